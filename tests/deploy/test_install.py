"""deploy/install.sh into a scratch root (DESTDIR): what it installs, that a second run
changes nothing, and that --uninstall (and --purge) remove it again."""

from __future__ import annotations

import hashlib
import subprocess
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALLED = (
    "etc/systemd/system/sensor-gateway.service",
    "etc/systemd/system/multi-user.target.wants/sensor-gateway.service",
    "etc/avahi/services/sensor-gateway.service",
    "etc/sensor-gateway/gateway.toml",
)


def install(root: Path, *args: str) -> str:
    result = subprocess.run(
        ["bash", str(REPO / "deploy/install.sh"), "--destdir", str(root), "--no-venv", *args],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def snapshot(root: Path) -> dict[str, str]:
    """Every file and symlink under root with its content hash or link target."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = "-> " + str(path.readlink())
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A scratch root with the account files a Debian system has."""
    root = tmp_path / "root"
    etc = root / "etc"
    etc.mkdir(parents=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (etc / "group").write_text("root:x:0:\ndialout:x:20:\n")
    (etc / "shadow").write_text("root:*:19000:0:99999:7:::\n")
    (etc / "gshadow").write_text("root:*::\ndialout:*::\n")
    for name in ("shadow", "gshadow"):
        (etc / name).chmod(0o640)
    return root


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "initial.toml"
    path.write_text('[[room.living_room]]\ndriver = "dht22"\npin = 4\n')
    return path


def test_installs_units_avahi_config_and_user(root: Path, config: Path) -> None:
    out = install(root, "--config", str(config))
    for rel in INSTALLED:
        assert (root / rel).is_symlink() or (root / rel).is_file(), rel
    link = root / INSTALLED[1]
    assert link.readlink() == Path("/etc/systemd/system/sensor-gateway.service")
    installed = (root / "etc/sensor-gateway/gateway.toml").read_text()
    assert installed.startswith(config.read_text())
    listeners = tomllib.loads(installed)["broker"]["listeners"]
    assert listeners == [{"kind": "tcp", "host": "0.0.0.0", "port": 1883,
                          "password_file": "/etc/sensor-gateway/passwd"}]
    assert (root / "etc/sensor-gateway/passwd").read_text() == ""  # no users baked in
    assert not (root / "etc/systemd/system/sensor-gateway-firstboot.service").exists()
    passwd = (root / "etc/passwd").read_text()
    assert "sensor-gateway:" in passwd and "/usr/sbin/nologin" in passwd
    groups = {line.split(":")[0]: line.split(":")[3] for line in (root / "etc/group").read_text().splitlines()}
    for group in ("gpio", "i2c", "spi", "dialout"):
        assert "sensor-gateway" in groups[group].split(","), group
    assert "sensor gateway installed" in out


def test_advice_names_the_file_that_wins(root: Path, config: Path, tmp_path: Path) -> None:
    """On the image the boot partition's gateway.toml replaces /etc's at every boot, so the
    build must not tell anyone to edit /etc's copy."""
    out = install(root, "--config", str(config), "--firstboot")
    assert "from /boot/firmware/gateway.toml: edit that one" in out and "restart sensor-gateway" not in out
    plain = install(tmp_path / "plain", "--config", str(config))
    assert "wrote /etc/sensor-gateway/gateway.toml (edit it, then: systemctl restart" in plain


def test_second_run_changes_nothing(root: Path, config: Path) -> None:
    install(root, "--config", str(config), "--firstboot")
    before = snapshot(root)
    out = install(root, "--config", str(config), "--firstboot")
    assert snapshot(root) == before
    assert "wrote" not in out


def test_existing_config_is_never_overwritten(root: Path, config: Path) -> None:
    install(root, "--config", str(config))
    edited = root / "etc/sensor-gateway/gateway.toml"
    edited.write_text("# mine\n")
    install(root, "--config", str(config))
    assert edited.read_text() == "# mine\n"


def test_uninstall_keeps_config_and_purge_removes_everything(root: Path, config: Path) -> None:
    empty = snapshot(root)
    (root / "opt/sensor-gateway/venv").mkdir(parents=True)  # what a real install puts there
    install(root, "--config", str(config), "--firstboot")

    out = install(root, "--uninstall")
    assert "kept /etc/sensor-gateway" in out
    left = snapshot(root)
    assert not [rel for rel in INSTALLED[:3] if rel in left]
    assert "etc/sensor-gateway/gateway.toml" in left
    assert not (root / "opt/sensor-gateway").exists()

    install(root, "--uninstall", "--purge")
    after = snapshot(root)
    assert not (root / "etc/sensor-gateway").exists()
    assert "sensor-gateway:" not in (root / "etc/passwd").read_text()
    # Only the device groups stay (other software may use them); the rest is as before.
    assert {p for p in after if not p.endswith("-")} == set(empty)  # shadow tools keep backups
    assert after["etc/passwd"] == empty["etc/passwd"]


def test_unknown_option_is_refused(root: Path) -> None:
    result = subprocess.run(["bash", str(REPO / "deploy/install.sh"), "--destdir", str(root), "--bogus"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "unknown option: --bogus" in result.stderr


def test_config_with_listeners_is_installed_unchanged(root: Path, tmp_path: Path) -> None:
    own = tmp_path / "own.toml"
    own.write_text('[[broker.listeners]]\nkind = "tcp"\nhost = "127.0.0.1"\n')
    install(root, "--config", str(own))
    assert (root / "etc/sensor-gateway/gateway.toml").read_text() == own.read_text()
