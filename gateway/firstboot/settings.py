"""The ``[system]`` table of the boot-partition gateway.toml: what first boot applies to the
operating system rather than to the gateway (hostname, WiFi, SSH key, MQTT users).

Pure validation: takes the parsed document, returns settings and errors; touches nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.config.errors import ConfigError
from gateway.config.tomlpos import KeyLines, PathPart, format_path

DEFAULT_HOSTNAME = "sensor-gateway"
# The user created when the boot file names none, so a fresh image always has credentials.
DEFAULT_USER = "mqtt"

_HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_PSK_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
_SSH_KEY = re.compile(
    r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com"
    r"|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( .*)?$"
)
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


@dataclass(frozen=True)
class WifiSettings:
    """``[system.wifi]``: one network to join; an empty password means an open network."""

    country: str
    ssid: str
    password: str = ""


@dataclass(frozen=True)
class MqttUser:
    """One ``[[system.users]]`` entry; ``password`` None means "generate one"."""

    username: str
    password: str | None = None


@dataclass(frozen=True)
class SystemSettings:
    """The validated ``[system]`` table."""

    hostname: str = DEFAULT_HOSTNAME
    wifi: WifiSettings | None = None
    ssh_authorized_keys: tuple[str, ...] = ()
    users: tuple[MqttUser, ...] = field(default_factory=lambda: (MqttUser(DEFAULT_USER),))


class _Checker:
    """Collects errors with file, line and key for one document."""

    def __init__(self, file: str, lines: KeyLines) -> None:
        self.file = file
        self.lines = lines
        self.errors: list[ConfigError] = []

    def error(self, path: tuple[PathPart, ...], message: str) -> None:
        self.errors.append(ConfigError(self.file, self.lines.line(path), format_path(path), message))

    def table(self, value: Any, path: tuple[PathPart, ...], known: set[str]) -> Mapping[str, Any]:
        """``value`` as a table with only ``known`` keys; errors for anything else."""
        if not isinstance(value, Mapping):
            self.error(path, "must be a table")
            return {}
        for key in value:
            if key not in known:
                self.error((*path, key), f"unknown key (expected one of: {', '.join(sorted(known))})")
        return value

    def string(self, table: Mapping[str, Any], path: tuple[PathPart, ...], key: str) -> str | None:
        value = table.get(key)
        if value is not None and not isinstance(value, str):
            self.error((*path, key), f"must be a string, not {type(value).__name__}")
            return None
        return value


def parse_system(doc: Mapping[str, Any], file: str, lines: KeyLines) -> tuple[SystemSettings, list[ConfigError]]:
    """Validate ``doc["system"]``; returns the settings (defaults where invalid) and errors."""
    check = _Checker(file, lines)
    path: tuple[PathPart, ...] = ("system",)
    raw = check.table(doc.get("system", {}), path, {"hostname", "wifi", "ssh_authorized_keys", "users"})

    hostname = check.string(raw, path, "hostname")
    if hostname is None:
        hostname = DEFAULT_HOSTNAME
    elif not _HOSTNAME.match(hostname):
        check.error((*path, "hostname"), "must be 1-63 lowercase letters, digits or '-', not starting or ending with '-'")
        hostname = DEFAULT_HOSTNAME

    wifi = _parse_wifi(check, raw.get("wifi")) if "wifi" in raw else None
    keys = _parse_ssh_keys(check, raw.get("ssh_authorized_keys", []))
    users = _parse_users(check, raw["users"]) if "users" in raw else (MqttUser(DEFAULT_USER),)
    return SystemSettings(hostname, wifi, keys, users), check.errors


def _parse_wifi(check: _Checker, value: Any) -> WifiSettings | None:
    path: tuple[PathPart, ...] = ("system", "wifi")
    raw = check.table(value, path, {"country", "ssid", "password"})
    if not raw:
        return None
    ok = True
    country = check.string(raw, path, "country")
    if country is None:
        check.error((*path, "country"), "is required: the two-letter country code, e.g. \"DE\" (radio regulations)")
        ok = False
    elif not _COUNTRY.match(country.upper()):
        check.error((*path, "country"), f"{country!r} is not a two-letter country code such as \"GB\"")
        ok = False
    ssid = check.string(raw, path, "ssid")
    if ssid is None:
        check.error((*path, "ssid"), "is required: the network name")
        ok = False
    elif not 1 <= len(ssid.encode()) <= 32:
        check.error((*path, "ssid"), "must be 1 to 32 bytes long")
        ok = False
    password = check.string(raw, path, "password") or ""
    if password and not (8 <= len(password) <= 63 or _PSK_HEX.match(password)):
        check.error((*path, "password"), "a WPA password has 8 to 63 characters (or is 64 hex digits)")
        ok = False
    if not ok or country is None or ssid is None:
        return None
    return WifiSettings(country.upper(), ssid, password)


def _parse_ssh_keys(check: _Checker, value: Any) -> tuple[str, ...]:
    path: tuple[PathPart, ...] = ("system", "ssh_authorized_keys")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        check.error(path, "must be a list of public keys (the lines of an authorized_keys file)")
        return ()
    keys = []
    for index, key in enumerate(value):
        if not isinstance(key, str) or not _SSH_KEY.match(key.strip()):
            check.error(path, f"entry {index + 1} is not an OpenSSH public key ('ssh-ed25519 AAAA... comment')")
            continue
        keys.append(key.strip())
    return tuple(keys)


def _parse_users(check: _Checker, value: Any) -> tuple[MqttUser, ...]:
    path: tuple[PathPart, ...] = ("system", "users")
    if not isinstance(value, list):
        check.error(path, "must be an array of tables: [[system.users]] with username (and password)")
        return ()
    users: list[MqttUser] = []
    for index, entry in enumerate(value):
        entry_path = (*path, index)
        raw = check.table(entry, entry_path, {"username", "password"})
        username = check.string(raw, entry_path, "username")
        password = check.string(raw, entry_path, "password")
        if username is None:
            check.error((*entry_path, "username"), "is required")
            continue
        if not _USERNAME.match(username):
            check.error((*entry_path, "username"), "must be 1-64 letters, digits or . _ @ -")
            continue
        if any(u.username == username for u in users):
            check.error((*entry_path, "username"), f"user {username!r} is listed twice")
            continue
        if password == "":
            password = None  # an empty password asks for a generated one, as no password does
        users.append(MqttUser(username, password))
    return tuple(users)
