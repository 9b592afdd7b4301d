"""System updates against the real RAUC (Debian's rauc): update_bundles made by bundle.sh, RAUC's
service on a private D-Bus with two file-backed slots (support.rauc_system). Installed,
refused (other key, other system, not a bundle, one already running, no RAUC, a full disk
while downloading), then the boots after it: trial, good, rolled back and why.

RAUC installs update_bundles in its ``plain`` format here: the ``verity`` format the image's
update_bundles use needs the kernel's device mapper, which this test machine's kernel lacks
(``dmsetup targets``: "Failure to communicate with kernel device-mapper driver"). The
signature, compatible and slot handling are the same for both formats.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from gw_helpers import gateway_command
from support.rauc_system import Boots, RaucSystem
from support.small_disk import SmallDisk

from gateway import __version__
from gateway.system.health import HealthReport, mark_slot
from gateway.system.update import (
    LOCK_FILE,
    PENDING_FILE,
    REPORT_FILE,
    install_update,
    read_pending,
    reboot_command,
    update_lock,
)
from gateway.system.update_rauc import NOT_AB, Rauc, UpdateError
from gateway.system.update_status import DID_NOT_START, update_status

NOBODY = 65534


def cli(rauc_system: RaucSystem, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*gateway_command(), "system", "update", *args, "--data-dir",
                           str(data), "--rauc-conf", str(rauc_system.conf)], env=rauc_system.env,
                          capture_output=True, text=True, timeout=300)


def label(image: Path) -> str:
    return subprocess.run(["blkid", "-o", "value", "-s", "LABEL", str(image)],
                          capture_output=True, text=True, timeout=30).stdout.strip()


def test_a_good_bundle_is_installed_tried_and_kept(rauc_system: RaucSystem, update_bundles: dict[str, Path],
                                                   tmp_path: Path) -> None:
    data, rauc, boots = tmp_path / "data", Rauc(rauc_system.conf), Boots()
    steps: list[tuple[int, str]] = []
    pending = install_update(update_bundles["good"], data, rauc, lambda p, m: steps.append((p, m)),
                             boot_id=boots)
    assert (pending.from_version, pending.to_version, pending.slot) == (__version__, __version__, "B")
    kept = json.loads((data / PENDING_FILE).read_text())
    assert {"from", "to", "slot", "at"} <= kept.keys() and kept["slot"] == "B"
    assert steps[-1][0] == 100 and any("Copying image to rootfs.1" in m for _, m in steps)
    assert label(rauc_system.slot_file("B")) == "RASPIROOT"  # the bundle's root file system
    assert label(rauc_system.slot_file("A")) == ""  # the running slot is untouched
    assert rauc_system.primary() == "B"
    assert update_bundles["good"].is_file()  # the user's file stays
    status = update_status(data, rauc, boots)
    assert status["state"] == "rebooting" and status["booted_slot"] == "A"
    assert status["other_slot_version"] == __version__

    assert boots.reboot(rauc_system) == "B"
    assert update_status(data, rauc, boots)["state"] == "trial"
    marked = mark_slot(HealthReport(sensors_reporting=["room.kitchen[0]"]), data, rauc, boots)
    assert marked.trial and marked.argv is not None and "mark-good" in marked.argv
    status = update_status(data, rauc, boots)
    assert status["state"] == "good" and status["booted_slot"] == "B", status
    # Later boots are no trials: a silent sensor does not send the gateway back.
    boots.reboot(rauc_system)
    silent = HealthReport(problems=["no reading within 64 s from: room.cellar[0]"],
                          sensors_silent=["room.cellar[0]"])
    again = mark_slot(silent, data, rauc, boots)
    assert not again.trial and again.argv is not None and "mark-good" in again.argv
    assert json.loads((data / REPORT_FILE).read_text())["ok"] is True  # the trial's, kept


def test_an_unhealthy_update_is_rolled_back_and_says_why(rauc_system: RaucSystem,
                                                         update_bundles: dict[str, Path],
                                                         tmp_path: Path) -> None:
    data, rauc, boots = tmp_path / "data", Rauc(rauc_system.conf), Boots()
    install_update(update_bundles["good"], data, rauc, boot_id=boots)
    assert boots.reboot(rauc_system) == "B"
    sick = HealthReport(problems=["the gateway is not online (home/gateway/status)"])
    marked = mark_slot(sick, data, rauc, boots)
    assert marked.trial and marked.argv is not None and "mark-bad" in marked.argv
    status = update_status(data, rauc, boots)
    assert status["state"] == "failed" and "not online" in status["message"]
    assert rauc_system.boot_state("B") == "bad"
    assert boots.reboot(rauc_system) == "A"  # the boot loader skips the bad slot
    # The old system's own check afterwards keeps the trial's report.
    mark_slot(HealthReport(), data, rauc, boots)
    status = update_status(data, rauc, boots)
    assert status["state"] == "rolled_back" and status["booted_slot"] == "A"
    assert "the gateway is not online (home/gateway/status)" in status["message"]
    shown = cli(rauc_system, data, "--status")
    assert shown.returncode == 0 and "state: rolled_back" in shown.stdout
    assert "not online" in shown.stdout


def test_a_new_system_that_never_reported_did_not_start(rauc_system: RaucSystem,
                                                        update_bundles: dict[str, Path],
                                                        tmp_path: Path) -> None:
    data, rauc, boots = tmp_path / "data", Rauc(rauc_system.conf), Boots()
    install_update(update_bundles["good"], data, rauc, boot_id=boots)
    # Slot B hung before its health check; its attempts ran out and A runs again.
    (rauc_system.path / "bootenv/state.B").write_text("bad\n")
    assert boots.reboot(rauc_system) == "A"
    status = update_status(data, rauc, boots)
    assert status["state"] == "rolled_back"
    assert status["message"].endswith(DID_NOT_START)


def test_the_command_installs_and_restarts_only_when_asked(rauc_system: RaucSystem, update_bundles: dict[str, Path],
                                                 tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, NOBODY, NOBODY)  # the service's user; the command runs with sudo
    result = cli(rauc_system, data, str(update_bundles["good"]), "--no-reboot")
    assert result.returncode == 0, result.stderr
    assert "100% Installing done." in result.stdout
    assert f"installed version {__version__} in slot B" in result.stdout
    assert read_pending(data) is not None and rauc_system.primary() == "B"
    # The gateway (not root) can still write the status files and take the lock.
    assert {p.name: p.stat().st_uid for p in data.iterdir()} == {
        PENDING_FILE: NOBODY, LOCK_FILE: NOBODY}


@pytest.mark.parametrize("bundle, expected", [
    ("other_key", "is not signed with this gateway's update key"),
    ("junk", "is not an update bundle"),
])
def test_a_bundle_rauc_refuses_changes_nothing(rauc_system: RaucSystem, update_bundles: dict[str, Path],
                                               tmp_path: Path, bundle: str,
                                               expected: str) -> None:
    data = tmp_path / "data"
    result = cli(rauc_system, data, str(update_bundles[bundle]))
    assert result.returncode == 1 and expected in result.stderr, result.stderr
    assert rauc_system.primary() == "A" and label(rauc_system.slot_file("B")) == ""
    assert not (data / PENDING_FILE).exists()
    status = update_status(data, Rauc(rauc_system.conf))
    assert status["state"] == "failed" and expected in status["message"]


def test_a_bundle_for_another_system_is_refused(tmp_path: Path, update_bundles: dict[str, Path],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    other = RaucSystem(tmp_path / "rauc", update_bundles["keyring"], compatible="sensor-gateway-rpi-armhf")
    other.start("A")
    try:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", other.address)
        with pytest.raises(UpdateError, match="is an update for 'sensor-gateway-rpi-arm64', "
                                              "not for this system"):
            install_update(update_bundles["good"], tmp_path / "data", Rauc(other.conf))
        assert other.primary() == "A"
    finally:
        other.stop()


def test_a_second_update_at_once_is_refused(rauc_system: RaucSystem, update_bundles: dict[str, Path],
                                            tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with update_lock(data):  # the dashboard's install, say
        result = cli(rauc_system, data, str(update_bundles["good"]))
        assert result.returncode == 1 and "an update is already running" in result.stderr
        assert update_status(data, Rauc(rauc_system.conf))["state"] == "installing"
    assert rauc_system.primary() == "A"


def test_without_rauc_the_command_says_what_to_do_instead(tmp_path: Path) -> None:
    result = subprocess.run([*gateway_command(), "system", "update", "x.raucb", "--data-dir",
                             str(tmp_path), "--rauc-conf", str(tmp_path / "no-rauc_system.conf")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert NOT_AB in " ".join(result.stderr.split())
    assert "deploy/install.sh" in result.stderr


class _Files(http.server.SimpleHTTPRequestHandler):
    """Serves a directory; /endless sends 12 MB without a Content-Length."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path != "/endless":
            super().do_GET()
            return
        self.send_response(200)
        self.end_headers()
        for _ in range(12 * 16):
            self.wfile.write(b"\0" * 65536)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def web(update_bundles: dict[str, Path]) -> Iterator[str]:
    """An HTTP server on loopback with the good bundle and a 12 MB file."""
    big = update_bundles["good"].parent / "big.raucb"
    big.write_bytes(b"\0" * (12 << 20))

    def handler(*args: object) -> _Files:
        return _Files(*args, directory=str(update_bundles["good"].parent))  # type: ignore[arg-type]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_url_is_downloaded_installed_and_removed(rauc_system: RaucSystem, web: str,
                                                   tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = cli(rauc_system, data, f"{web}/update.raucb", "--no-reboot")
    assert result.returncode == 0, result.stderr
    assert "Downloading" in result.stdout and rauc_system.primary() == "B"
    assert sorted(p.name for p in data.iterdir() if p.suffix == ".raucb") == []


@pytest.mark.parametrize("path", ["/big.raucb", "/endless"])
def test_a_full_disk_while_downloading_is_said_and_leaves_nothing(rauc_system: RaucSystem, web: str,
                                                                  tmp_path: Path,
                                                                  path: str) -> None:
    with SmallDisk(tmp_path / "data", "24m") as disk:
        result = cli(rauc_system, disk.path, f"{web}{path}")
        assert result.returncode == 1
        assert "not enough space for the bundle in" in result.stderr, result.stderr
        assert [p.name for p in disk.path.iterdir() if "raucb" in p.name] == []
        assert disk.free_bytes() > 20 << 20
        status = update_status(disk.path, Rauc(rauc_system.conf))
        assert status["state"] == "failed" and "not enough space" in status["message"]
    assert rauc_system.primary() == "A"


def test_the_reboot_is_asked_of_root_where_the_image_sets_that_up(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The image's gateway user may not call logind's Reboot (no polkit): it leaves a request
    file for root's path unit; root, and systems without that unit, run systemctl reboot."""
    unit = tmp_path / "sensor-gateway-reboot.path"
    data = tmp_path / "data"
    monkeypatch.setattr(os, "geteuid", lambda: 999)
    assert reboot_command(data, unit) == ["systemctl", "reboot"]
    unit.write_text("[Path]\n")
    assert reboot_command(data, unit) == ["touch", str(data / "reboot-requested")]
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert reboot_command(data, unit) == ["systemctl", "reboot"]
