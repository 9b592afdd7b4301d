"""A backup dropped on a freshly flashed card's boot partition: first boot restores it before
applying gateway.toml, so the card becomes the old gateway (same users and passwords, same
settings, same broker store); a damaged one is refused, reported, and the card starts new."""

from __future__ import annotations

import sqlite3
import tomllib
from pathlib import Path

from broker.auth.passwords import PasswordFile
from gateway.firstboot.restore import REPORT_FILE
from gateway.firstboot.run import CREDENTIALS_FILE, ETC_CONFIG, PASSWD, run
from gateway.firstboot.system import Host
from gateway.system.backup import make_backup
from gateway.system.contents import Part
from gateway.system.pending import stage

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "deploy/image/gateway.toml"
OLD = """
[system]
hostname = "shed"

[[system.users]]
username = "phone"

[[room.shed]]
driver = "dht22"
pin = 4
"""
STORE = "var/lib/sensor-gateway/broker/broker.db"


def old_gateway(tmp_path: Path) -> tuple[Path, str]:
    """A gateway that ran: booted once (a generated password), with a broker store; returns
    its backup as the dashboard names it, and the password the phone uses."""
    root = tmp_path / "old"
    boot = root / "boot/firmware"
    boot.mkdir(parents=True)
    (root / "etc").mkdir()
    (boot / "gateway.toml").write_text(OLD)
    assert run(boot, Host(root))
    password = tomllib.loads((boot / CREDENTIALS_FILE).read_text())["phone"]
    (root / STORE).parent.mkdir(parents=True)
    db = sqlite3.connect(root / STORE)
    db.execute("CREATE TABLE retained (topic TEXT, payload BLOB)")
    db.execute("INSERT INTO retained VALUES ('home/shed/temperature', '12.5')")
    db.commit()
    db.close()
    parts = [Part(root / ETC_CONFIG, "config"), Part(boot / "gateway.toml", "boot config"),
             Part(root / PASSWD, "password file"), Part(root / STORE, "broker store", sqlite=True)]
    backup = tmp_path / "gateway-backup-shed-2026-12-02.tar.gz"
    make_backup(parts, backup, root=root)
    return backup, password


def fresh_card(tmp_path: Path) -> tuple[Path, Host]:
    root = tmp_path / "new"
    boot = root / "boot/firmware"
    boot.mkdir(parents=True)
    (root / "etc").mkdir()
    (boot / "gateway.toml").write_text(TEMPLATE.read_text())
    return boot, Host(root)


def test_a_backup_on_the_boot_partition_makes_a_fresh_card_the_old_gateway(tmp_path: Path) -> None:
    backup, password = old_gateway(tmp_path)
    boot, host = fresh_card(tmp_path)
    (boot / backup.name).write_bytes(backup.read_bytes())

    assert run(boot, host)
    assert PasswordFile.load(host.path(PASSWD)).entries["phone"].verify(password.encode())
    assert (boot / "gateway.toml").read_text() == OLD
    assert (boot / "gateway.toml.before-restore").read_text() == TEMPLATE.read_text()
    assert host.path("etc/hostname").read_text() == "shed\n"
    db = sqlite3.connect(host.path(STORE))
    assert db.execute("SELECT * FROM retained").fetchall() == [("home/shed/temperature", "12.5")]
    db.close()
    # No new password was generated: the phone keeps the one it has.
    assert not (boot / CREDENTIALS_FILE).exists()
    assert "restored" in (boot / REPORT_FILE).read_text()
    assert (boot / (backup.name + ".restored")).exists() and not (boot / backup.name).exists()

    # Applied once: the next boot does not restore the old state over newer data.
    host.path(STORE).write_bytes(b"newer")
    assert run(boot, host)
    assert host.path(STORE).read_bytes() == b"newer"


def test_a_damaged_backup_is_reported_and_the_card_starts_new(tmp_path: Path) -> None:
    backup, _ = old_gateway(tmp_path)
    boot, host = fresh_card(tmp_path)
    (boot / backup.name).write_bytes(backup.read_bytes()[:-100])

    assert run(boot, host)
    report = (boot / REPORT_FILE).read_text()
    assert f"{backup.name} was not restored" in report and "damaged" in report
    assert (boot / (backup.name + ".refused")).exists()
    assert not (boot / "gateway.toml.before-restore").exists()
    assert (boot / "gateway.toml").read_text() == TEMPLATE.read_text()
    assert "phone" in tomllib.loads((boot / CREDENTIALS_FILE).read_text())


def test_a_backup_uploaded_to_the_dashboard_is_restored_at_the_next_boot(tmp_path: Path) -> None:
    backup, password = old_gateway(tmp_path)
    boot, host = fresh_card(tmp_path)
    assert run(boot, host)  # the new card's own first boot: a new password
    state = host.path("var/lib/sensor-gateway")
    state.mkdir(parents=True, exist_ok=True)
    stage(backup, state)  # as the dashboard keeps an upload

    assert run(boot, host)
    assert PasswordFile.load(host.path(PASSWD)).entries["phone"].verify(password.encode())
    assert (boot / "gateway.toml").read_text() == OLD
    assert "uploaded to the dashboard was restored" in (boot / REPORT_FILE).read_text()
    assert not (state / "restore-pending.tar.gz").exists()
    assert not (boot / CREDENTIALS_FILE).exists()  # no stale password listed
