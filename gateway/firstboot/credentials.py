"""MQTT users from the boot file: the broker's password file, and generated passwords handed
to the user in a file on the boot partition (the only place a plain password is written)."""

from __future__ import annotations

import secrets
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from broker.auth.passwords import PasswordFile, PasswordFileError
from gateway.firstboot.settings import MqttUser

# No 0/O, 1/l/I: the password is read off a PC screen and typed into a phone.
_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
PASSWORD_LENGTH = 16  # ~93 bits


def generate_password() -> str:
    """A random password that is easy to type."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(PASSWORD_LENGTH))


@dataclass(frozen=True)
class UserUpdate:
    """What syncing the users did: the password file text when it changed, and the plain
    passwords the credentials file must list (generated ones only)."""

    passwd_text: str | None
    generated: dict[str, str]


def sync_users(
    users: Iterable[MqttUser], passwd: Path, known_generated: dict[str, str], managed: set[str]
) -> UserUpdate:
    """Bring the password file in line with ``users``.

    A user without a password keeps the hash it already has (its password was generated on an
    earlier boot), otherwise gets a new one. A given password is rehashed only when it no
    longer matches, so an unchanged boot file rewrites nothing (the SD card is spared).
    ``managed`` are the users an earlier boot took from the boot file: those no longer listed
    are removed; users added by hand (``gateway passwd add``) stay. ``known_generated`` are
    the passwords the credentials file lists from earlier boots; those still in use stay listed.
    """
    try:
        current = PasswordFile.load(passwd) if passwd.exists() else PasswordFile()
    except PasswordFileError:
        current = PasswordFile()  # unreadable: rebuilt from the boot file below
    users = list(users)
    listed = {user.username for user in users}
    result = PasswordFile(
        {name: entry for name, entry in current.entries.items() if name not in listed | managed}
    )
    generated: dict[str, str] = {}
    changed = False
    for user in users:
        entry = current.entries.get(user.username)
        if user.password is not None:
            if entry is not None and entry.verify(user.password.encode()):
                result.entries[user.username] = entry
            else:
                result.set_password(user.username, user.password)
                changed = True
        elif entry is not None:
            result.entries[user.username] = entry
            if user.username in known_generated:
                generated[user.username] = known_generated[user.username]
        else:
            password = generate_password()
            result.set_password(user.username, password)
            generated[user.username] = password
            changed = True
    if set(current.entries) != set(result.entries):
        changed = True
    return UserUpdate(result.dumps() if changed else None, generated)


def render_credentials(generated: dict[str, str], hostname: str, port: int) -> str:
    """The credentials file: readable by a person, and TOML so the next boot can read it."""
    lines = [
        f"# MQTT login for the sensor gateway {hostname}, generated at first boot.",
        f"# Server: {hostname}.local   port: {port}   (no TLS)",
        "# Topics: subscribe to home/# to see every reading.",
        "# Keep this file private. To choose your own password instead, set it under",
        "# [[system.users]] in gateway.toml and delete this file.",
        "",
    ]
    lines += [f"{_toml_key(user)} = {_toml_string(password)}" for user, password in generated.items()]
    return "\n".join(lines) + "\n"


def read_credentials(path: Path) -> dict[str, str]:
    """The generated passwords an earlier boot wrote; empty when missing or edited beyond use."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)}


def _toml_key(key: str) -> str:
    return key if key.replace("-", "").replace("_", "").isalnum() and key.isascii() else _toml_string(key)


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
