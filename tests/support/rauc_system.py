"""Real RAUC for update tests: bundles made by deploy/image/bundle.sh, and a RAUC system in a
temporary directory (system.conf, two file-backed root slots A and B, RAUC's service on a
private D-Bus daemon).

The boot loader is RAUC's ``custom`` backend: a small script keeping U-Boot's two facts,
which slot boots first and whether each slot is good, in files. It is a double for the
Pi's boot hardware (the code under test is RAUC's service and the gateway's use of it);
``reboot`` restarts the service as the slot the boot loader would start, which is what a
real restart changes for RAUC. Needs root (RAUC mounts bundles on a loop device) and
Debian's rauc, dbus-daemon and squashfs-tools (deploy/dev-deps.sh test).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]
COMPATIBLE = "sensor-gateway-rpi-arm64"
SLOT_SIZE = "400M"  # bundle.sh makes root images of 256 MiB and more; files stay sparse
TIMEOUT = 120
#: RAUC's older bundle format: installs without the kernel's device mapper, which the test
#: machines' kernels lack (the image's bundles are ``verity``; signature, compatible and
#: slot handling are the same).
PLAIN = {"BUNDLE_FORMAT": "plain"}


def make_bundle(rootfs: Path, out: Path, cache: Path, **env: str) -> Path:
    """A bundle of the directory ``rootfs`` made by bundle.sh (``env``: UPDATE_KEY,
    UPDATE_CERT, BUNDLE_FORMAT); the development key goes to ``cache``/update-keys."""
    assert shutil.which("rauc"), "rauc missing: deploy/dev-deps.sh installs it"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["bash", str(ROOT / "deploy/image/bundle.sh"), str(rootfs),
                             str(out)], env=dict(os.environ, CACHE_DIR=str(cache), **env),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return out


def small_rootfs(path: Path, name: str = "sensor-gateway test") -> Path:
    """A root directory with an os-release (and enough bytes for squashfs)."""
    (path / "etc").mkdir(parents=True)
    (path / "etc/os-release").write_text(f'NAME="{name}"\n')
    (path / "etc/noise").write_bytes(os.urandom(1 << 16))
    return path


def signing_key(directory: Path, name: str = "other") -> dict[str, str]:
    """A new key and self-signed certificate: bundle.sh's UPDATE_KEY/UPDATE_CERT."""
    directory.mkdir(parents=True, exist_ok=True)
    key, cert = directory / f"{name}-key.pem", directory / f"{name}-cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", f"/CN={name}",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return {"UPDATE_KEY": str(key), "UPDATE_CERT": str(cert)}


BOOTLOADER = """#!/bin/sh
# RAUC's custom boot loader backend, playing U-Boot's environment (BOOT_ORDER and each
# slot's attempts) with one file per fact.
d="$(dirname "$0")/bootenv"
case "$1" in
  get-primary) cat "$d/primary" ;;
  set-primary) echo "$2" > "$d/primary"; echo good > "$d/state.$2" ;;
  get-state) cat "$d/state.$2" ;;
  set-state) echo "$3" > "$d/state.$2" ;;
  *) echo "unknown request $1" >&2; exit 1 ;;
esac
"""


class RaucSystem:
    """A RAUC system under ``path`` whose update keyring is ``keyring``; ``address`` is the
    private bus (DBUS_SYSTEM_BUS_ADDRESS for RAUC's clients) once started."""

    def __init__(self, path: Path, keyring: Path, compatible: str = COMPATIBLE) -> None:
        self.path = path
        self.conf = path / "system.conf"
        self.address = ""
        self._bus: subprocess.Popen[bytes] | None = None
        self._service: subprocess.Popen[bytes] | None = None
        bootenv = path / "bootenv"
        bootenv.mkdir(parents=True)
        self._log = open(path / "service.log", "ab")  # noqa: SIM115 (closed in stop)
        (bootenv / "primary").write_text("A\n")
        for bootname in "AB":
            (bootenv / f"state.{bootname}").write_text("good\n")
            subprocess.run(["truncate", "-s", SLOT_SIZE, str(self.slot_file(bootname))],
                           check=True)
        script = path / "bootloader.sh"
        script.write_text(BOOTLOADER)
        script.chmod(0o755)
        (path / "data").mkdir()
        (path / "mnt").mkdir()
        self.conf.write_text(f"""[system]
compatible={compatible}
bootloader=custom
data-directory={path / 'data'}

[handlers]
bootloader-custom-backend={script}

[keyring]
path={keyring}

[slot.rootfs.0]
device={self.slot_file('A')}
type=ext4
bootname=A

[slot.rootfs.1]
device={self.slot_file('B')}
type=ext4
bootname=B
""")

    def slot_file(self, bootname: str) -> Path:
        return self.path / f"slot{bootname}.img"

    def primary(self) -> str:
        """The slot the boot loader starts next."""
        return (self.path / "bootenv/primary").read_text().strip()

    def boot_state(self, bootname: str) -> str:
        return (self.path / f"bootenv/state.{bootname}").read_text().strip()

    @property
    def env(self) -> dict[str, str]:
        """The environment for RAUC's clients (the gateway's commands)."""
        return dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address)

    def start(self, booted: str = "A") -> RaucSystem:
        """The bus, then RAUC's service as running from slot ``booted``."""
        if self._bus is None:
            self._bus = subprocess.Popen(
                ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            assert self._bus.stdout is not None
            self.address = self._bus.stdout.readline().decode().strip()
            assert self.address.startswith("unix:"), self.address
        self._service = subprocess.Popen(
            ["rauc", "service", f"--conf={self.conf}", f"--mount={self.path / 'mnt'}",
             f"--override-boot-slot={booted}"], env=self.env,
            stdout=self._log, stderr=subprocess.STDOUT)
        wait_until(self._answers, TIMEOUT, "RAUC's service on the private bus")
        return self

    def _answers(self) -> bool:
        assert self._service is not None
        assert self._service.poll() is None, (self.path / "service.log").read_text()
        return subprocess.run(["rauc", "status"], env=self.env, capture_output=True,
                              timeout=60).returncode == 0

    def reboot(self) -> str:
        """Start the service again as from the slot the boot loader would start now: the
        primary one while it is good, else the other. Returns that slot."""
        self._stop_service()
        primary = self.primary()
        booted = primary if self.boot_state(primary) == "good" else "AB".replace(primary, "")
        self.start(booted)
        return booted

    def _stop_service(self) -> None:
        if self._service is not None:
            self._service.terminate()
            self._service.wait(timeout=60)
            self._service = None

    def stop(self) -> None:
        self._stop_service()
        if self._bus is not None:
            self._bus.terminate()
            self._bus.wait(timeout=60)
            assert self._bus.stdout is not None
            self._bus.stdout.close()
            self._bus = None
        self._log.close()


class Boots:
    """The kernel's boot id as the gateway's code sees it: a new one at every reboot."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> str:
        return f"boot-{self.count}"

    def reboot(self, system: RaucSystem) -> str:
        self.count += 1
        return system.reboot()


@pytest.fixture(scope="module")
def update_bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A good bundle, one signed with another key, the keyring; made once per module."""
    tmp = tmp_path_factory.mktemp("bundles")
    rootfs = small_rootfs(tmp / "rootfs")
    good = make_bundle(rootfs, tmp / "good/update.raucb", tmp / "cache", **PLAIN)
    other = make_bundle(rootfs, tmp / "other/update.raucb", tmp / "cache",
                        **PLAIN, **signing_key(tmp / "keys"))
    junk = tmp / "notes.raucb"
    junk.write_text("these are not the bundles you are looking for\n" * 100)
    return {"good": good, "other_key": other, "junk": junk,
            "keyring": tmp / "cache/update-keys/cert.pem"}


@pytest.fixture
def rauc_system(tmp_path: Path, update_bundles: dict[str, Path],
                monkeypatch: pytest.MonkeyPatch) -> Iterator[RaucSystem]:
    """A RAUC system running from slot A; RAUC's clients (in this process) reach it."""
    rig = RaucSystem(tmp_path / "rauc", update_bundles["keyring"])
    rig.start("A")
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", rig.address)
    try:
        yield rig
    finally:
        rig.stop()
