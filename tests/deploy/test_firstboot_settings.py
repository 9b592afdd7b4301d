"""The [system] table of the boot-partition gateway.toml: values and error reports."""

from __future__ import annotations

import tomllib

import pytest

from gateway.config.tomlpos import KeyLines
from gateway.firstboot.settings import DEFAULT_HOSTNAME, DEFAULT_USER, MqttUser, parse_system

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@laptop"


def parse(text: str):
    return parse_system(tomllib.loads(text), "gateway.toml", KeyLines(text))


def test_empty_file_gives_defaults_and_one_generated_user() -> None:
    settings, errors = parse("")
    assert errors == []
    assert settings.hostname == DEFAULT_HOSTNAME
    assert settings.wifi is None
    assert settings.users == (MqttUser(DEFAULT_USER, None),)


def test_full_system_table() -> None:
    settings, errors = parse(
        f"""
[system]
hostname = "shed"
ssh_authorized_keys = ["{KEY}"]

[system.wifi]
country = "de"
ssid = "Home net"
password = "correct horse"

[[system.users]]
username = "phone"

[[system.users]]
username = "esp"
password = "s3cret-pass"
"""
    )
    assert errors == []
    assert settings.hostname == "shed"
    assert settings.ssh_authorized_keys == (KEY,)
    assert settings.wifi is not None and settings.wifi.country == "DE"
    assert settings.wifi.ssid == "Home net"
    assert settings.users == (MqttUser("phone", None), MqttUser("esp", "s3cret-pass"))


def test_a_single_ssh_key_string_is_accepted() -> None:
    settings, errors = parse(f'[system]\nssh_authorized_keys = "{KEY}"\n')
    assert errors == [] and settings.ssh_authorized_keys == (KEY,)


@pytest.mark.parametrize(
    ("text", "line", "key", "fragment"),
    [
        ('[system]\nhostname = "My_Pi"\n', 2, "system.hostname", "lowercase"),
        ("[system]\nhostname = 7\n", 2, "system.hostname", "must be a string"),
        ('\n[system]\nhostnme = "x"\n', 3, "system.hostnme", "unknown key"),
        ('[system.wifi]\nssid = "a"\ncountry = "Germany"\n', 3, "system.wifi.country", "two-letter"),
        ('[system.wifi]\nssid = "a"\n', 1, "system.wifi.country", "is required"),
        ('[system.wifi]\ncountry = "DE"\nssid = "a"\npassword = "short"\n', 4, "system.wifi.password", "8 to 63"),
        ('[system]\nssh_authorized_keys = ["hello"]\n', 2, "system.ssh_authorized_keys", "entry 1"),
        ('[[system.users]]\nusername = "a"\n[[system.users]]\nusername = "a"\n', 4, "system.users[1].username", "twice"),
        ('[[system.users]]\nusername = "a:b"\n', 2, "system.users[0].username", "letters"),
        ('[[system.users]]\npassword = "x"\n', 1, "system.users[0].username", "is required"),
        ('[[system.users]]\nusername = "a"\nrole = "admin"\n', 3, "system.users[0].role", "unknown key"),
    ],
)
def test_errors_name_line_and_key(text: str, line: int, key: str, fragment: str) -> None:
    _, errors = parse(text)
    assert len(errors) == 1, errors
    error = errors[0]
    assert (error.file, error.line, error.key) == ("gateway.toml", line, key)
    assert fragment in error.message
    assert str(error).startswith(f"gateway.toml:{line}: {key}: ")


def test_every_error_is_reported_at_once() -> None:
    _, errors = parse('[system]\nhostname = "-bad"\n[system.wifi]\nssid = ""\ncountry = "D"\n')
    assert [e.key for e in errors] == ["system.hostname", "system.wifi.country", "system.wifi.ssid"]


def test_empty_password_means_generate() -> None:
    settings, errors = parse('[[system.users]]\nusername = "phone"\npassword = ""\n')
    assert errors == [] and settings.users == (MqttUser("phone", None),)
