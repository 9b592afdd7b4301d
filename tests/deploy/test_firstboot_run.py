"""First boot end to end on a scratch boot partition and root: what it writes, what it keeps,
and how it reports a broken gateway.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

from broker.auth.passwords import PasswordFile
from gateway.config import parse_config
from gateway.firstboot.bootfile import appliance_broker, mqtt_port
from gateway.firstboot.run import CREDENTIALS_FILE, ERROR_FILE, ETC_CONFIG, PASSWD, run
from gateway.firstboot.system import GROWN_FLAG, SSH_KEYS, WPA_CONF, Host, wpa_psk, write_if_changed

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "deploy/image/gateway.toml"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@laptop"

CONFIG = f"""
[system]
hostname = "shed"
ssh_authorized_keys = ["{KEY}"]

[system.wifi]
country = "GB"
ssid = "Garden"
password = "correct horse battery"

[[system.users]]
username = "phone"

[[system.users]]
username = "esp"
password = "esp-password-1"

[[room.shed]]
driver = "dht22"
pin = 4
"""


def credentials(boot: Path) -> dict[str, str]:
    return tomllib.loads((boot / CREDENTIALS_FILE).read_text())


def test_shipped_template_applies(boot: Path, host: Host) -> None:
    (boot / "gateway.toml").write_text(TEMPLATE.read_text())
    assert run(boot, host)
    assert set(credentials(boot)) == {"phone"}
    # The gateway accepts it, with the password file first boot wrote (here in the scratch root).
    etc = host.path(ETC_CONFIG).read_text().replace(f'"/{PASSWD}"', f'"{host.path(PASSWD)}"')
    parse_config(etc, "gateway.toml")


def test_applies_system_settings_and_generates_missing_passwords(boot: Path, host: Host) -> None:
    (boot / "gateway.toml").write_text(CONFIG)
    assert run(boot, host)

    assert host.path("etc/hostname").read_text() == "shed\n"
    assert "127.0.1.1\tshed" in host.path("etc/hosts").read_text().splitlines()
    assert host.path(SSH_KEYS).read_text() == KEY + "\n"
    wpa = host.path(WPA_CONF).read_text()
    assert "country=GB" in wpa and f"ssid={b'Garden'.hex()}" in wpa
    assert f"psk={wpa_psk('Garden', 'correct horse battery')}" in wpa
    assert "correct horse" not in wpa  # only the derived key is stored

    users = PasswordFile.load(host.path(PASSWD))
    generated = credentials(boot)
    assert set(generated) == {"phone"}  # the given password is not echoed anywhere
    assert users.verify("phone", generated["phone"])
    assert users.verify("esp", "esp-password-1")
    assert oct(host.path(PASSWD).stat().st_mode & 0o777) == "0o640"

    etc = tomllib.loads(host.path(ETC_CONFIG).read_text())
    assert "system" not in etc
    assert etc["room"]["shed"][0]["pin"] == 4
    assert etc["broker"]["listeners"] == [
        {"kind": "tcp", "host": "0.0.0.0", "port": 1883, "password_file": "/" + PASSWD}
    ]
    assert not (boot / ERROR_FILE).exists()
    assert ["hostname", "shed"] in host.commands
    assert ["ssh-keygen", "-A"] in host.commands
    assert host.path(GROWN_FLAG).exists()


def test_second_boot_changes_nothing(boot: Path, host: Host) -> None:
    (boot / "gateway.toml").write_text(CONFIG)
    assert run(boot, host)
    first_password = credentials(boot)["phone"]
    watched = [host.path(p) for p in (PASSWD, ETC_CONFIG, "etc/hostname", WPA_CONF, SSH_KEYS)]
    before = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in watched}

    host.commands.clear()
    assert run(boot, host)
    assert credentials(boot)["phone"] == first_password
    assert {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in watched} == before
    assert host.commands == [["ssh-keygen", "-A"]]  # the scratch root has no host keys


def test_removed_user_and_wifi_are_removed(boot: Path, host: Host) -> None:
    (boot / "gateway.toml").write_text(CONFIG)
    assert run(boot, host)
    (boot / "gateway.toml").write_text('[[system.users]]\nusername = "esp"\npassword = "esp-password-1"\n')
    assert run(boot, host)
    assert set(PasswordFile.load(host.path(PASSWD)).entries) == {"esp"}
    assert not (boot / CREDENTIALS_FILE).exists()
    assert not host.path(WPA_CONF).exists()
    assert not host.path(SSH_KEYS).exists()


def test_changed_password_is_rehashed(boot: Path, host: Host) -> None:
    (boot / "gateway.toml").write_text(CONFIG)
    assert run(boot, host)
    (boot / "gateway.toml").write_text(CONFIG.replace("esp-password-1", "esp-password-2"))
    assert run(boot, host)
    users = PasswordFile.load(host.path(PASSWD))
    assert users.verify("esp", "esp-password-2") and not users.verify("esp", "esp-password-1")


def test_broken_file_keeps_last_good_config_and_reports_line_and_key(boot: Path, host: Host) -> None:
    (boot / "gateway.toml").write_text(CONFIG)
    assert run(boot, host)
    good = {p: host.path(p).read_bytes() for p in (ETC_CONFIG, PASSWD, "etc/hostname")}

    broken = CONFIG.replace('hostname = "shed"', 'hostname = "Shed!"').replace("pin = 4", "pin = 99")
    (boot / "gateway.toml").write_text(broken)
    assert not run(boot, host)

    report = (boot / ERROR_FILE).read_text()
    lines = broken.splitlines()
    hostname_line = lines.index('hostname = "Shed!"') + 1
    pin_line = lines.index("pin = 99") + 1
    assert f"gateway.toml:{hostname_line}: system.hostname:" in report
    assert f"gateway.toml:{pin_line}: room.shed[0].pin:" in report
    assert {p: host.path(p).read_bytes() for p in good} == good

    (boot / "gateway.toml").write_text(CONFIG)
    assert run(boot, host)
    assert not (boot / ERROR_FILE).exists()


def test_a_pin_of_the_wrong_type_is_reported_once(boot: Path, host: Host) -> None:
    (boot / "gateway.toml").write_text(CONFIG.replace("pin = 4", 'pin = "five"'))
    assert not run(boot, host)
    problems = (boot / ERROR_FILE).read_text().split("\n\n", 1)[1].splitlines()
    line = CONFIG.splitlines().index("pin = 4") + 1
    assert problems == [f"gateway.toml:{line}: room.shed[0].pin: must be an integer, not 'five'"]


def test_toml_syntax_error_names_the_line(boot: Path, host: Host) -> None:
    (boot / "gateway.toml").write_text('[system]\nhostname = "a"\n\n[system.wifi\nssid = "x"\n')
    assert not run(boot, host)
    report = (boot / ERROR_FILE).read_text()
    assert "gateway.toml:4:" in report and "TOML syntax" in report
    assert not host.path(ETC_CONFIG).exists()


def test_missing_boot_file_still_gives_credentials(boot: Path, host: Host) -> None:
    assert run(boot, host)
    assert set(credentials(boot)) == {"mqtt"}
    assert host.path("etc/hostname").read_text() == "sensor-gateway\n"


def test_root_is_grown_only_once(boot: Path, host: Host) -> None:
    run(boot, host)
    grows = [c for c in host.commands if c[0] == "growpart"]
    run(boot, host)
    assert [c for c in host.commands if c[0] == "growpart"] == grows
    assert len(grows) == 1


def test_wpa_psk_matches_the_ieee_test_vector() -> None:
    # IEEE 802.11i-2004, annex H.4: passphrase "password", SSID "IEEE".
    assert wpa_psk("IEEE", "password") == "f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e"


def test_users_own_listeners_get_the_password_file_unless_anonymous() -> None:
    broker = appliance_broker(
        {"listeners": [{"kind": "tcp", "port": 1884}, {"kind": "ws", "allow_anonymous": True},
                       {"kind": "tcp", "port": 1885, "password_file": "/mine"}]},
        "/etc/sensor-gateway/passwd",
    )
    assert [item.get("password_file") for item in broker["listeners"]] == [
        "/etc/sensor-gateway/passwd", None, "/mine"]
    assert mqtt_port(broker) == 1884


def test_port_setting_moves_the_default_listener(boot: Path, host: Host) -> None:
    (boot / "gateway.toml").write_text("[broker]\nport = 1999\n")
    assert run(boot, host)
    etc = tomllib.loads(host.path(ETC_CONFIG).read_text())
    assert etc["broker"]["listeners"][0]["port"] == 1999
    # The broker's store is on, in the service's state directory.
    assert etc["broker"]["data_dir"] == "/var/lib/sensor-gateway/broker"
    assert "port: 1999" in (boot / CREDENTIALS_FILE).read_text()


def test_users_added_by_hand_survive_the_next_boot(boot: Path, host: Host) -> None:
    (boot / "gateway.toml").write_text(CONFIG)
    assert run(boot, host)
    users = PasswordFile.load(host.path(PASSWD))
    users.set_password("alice", "by-hand-password")  # what `gateway passwd add` does
    users.save(host.path(PASSWD))
    assert run(boot, host)
    assert PasswordFile.load(host.path(PASSWD)).verify("alice", "by-hand-password")


def test_a_file_linked_to_the_data_partition_is_written_where_the_link_points(tmp_path: Path) -> None:
    """The A/B image's root is read-only: /etc/hostname is a link into /data/etc. The new
    file goes to the link's target; the link, in a directory that cannot be written, stays."""
    etc, data = tmp_path / "etc", tmp_path / "data/etc"
    etc.mkdir()
    (etc / "hostname").symlink_to(data / "hostname")  # dangling until first boot writes it
    assert write_if_changed(etc / "hostname", "gw-one\n")
    etc.chmod(0o555)  # as a read-only root: no temporary file or rename here
    try:
        assert write_if_changed(etc / "hostname", "gw-two\n")
        assert not write_if_changed(etc / "hostname", "gw-two\n")
    finally:
        etc.chmod(0o755)
    assert (etc / "hostname").is_symlink()
    assert (data / "hostname").read_text() == "gw-two\n"
