"""Which files make up one gateway: its config, the files the config names (users, ACLs,
TLS keys, bridges), the broker's store, the dashboard's history and the discovery record."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker.store import FILE_NAME as BROKER_STORE
from gateway.config import Config
from gateway.ha_announce import RECORD_FILE

#: Where the appliance's service keeps its state (systemd's StateDirectory).
APPLIANCE_STATE = Path("/var/lib/sensor-gateway")
#: The appliance's boot-partition gateway.toml: on the image it is the config's source.
APPLIANCE_BOOT_FILE = Path("/boot/firmware/gateway.toml")
BOOT_CONFIG_ROLE = "boot config"
HISTORY_FILE = "history.sqlite3"
SESSION_KEY_FILE = "dashboard.key"
#: Keys of a listener (or of [broker] itself) that name a file the broker reads.
_FILE_KEYS = ("password_file", "acl_file", "certfile", "keyfile", "cafile", "bridge_config")


@dataclass(frozen=True)
class Part:
    """One file of the gateway: where it lives, what it is, and how it is copied
    (``sqlite``: through SQLite's online backup, consistent while the gateway writes)."""

    path: Path
    role: str
    sqlite: bool = False


def state_dir(config: Config, override: str | Path | None = None) -> Path:
    """The gateway's data directory as ``gateway run`` picks it, except that a command run
    from a shell on the appliance (no $STATE_DIRECTORY) still finds the service's."""
    chosen = override or config.gateway.data_dir or os.environ.get("STATE_DIRECTORY", "")
    if chosen:
        return Path(chosen).expanduser()
    if APPLIANCE_STATE.is_dir():
        return APPLIANCE_STATE
    return Path.home() / ".local" / "state" / "sensor-gateway"


def gateway_parts(config: Config, data_dir: Path, boot_file: Path | None = None) -> list[Part]:
    """Every file of this gateway that exists now, config first; ``boot_file`` is the
    appliance's boot-partition gateway.toml when there is one."""
    parts = [Part(config.path.resolve(), "config")]
    if boot_file is not None and boot_file.is_file():
        parts.append(Part(boot_file.resolve(), BOOT_CONFIG_ROLE))
    parts += [Part(path, role) for role, path in _named_files(config.broker)]
    broker_dir = config.broker.get("data_dir")
    if broker_dir:
        parts.append(Part(Path(broker_dir).resolve() / BROKER_STORE, "broker store", sqlite=True))
    data_dir = data_dir.resolve()
    parts += [
        Part(data_dir / HISTORY_FILE, "history", sqlite=True),
        Part(data_dir / RECORD_FILE, "discovery record"),
        Part(data_dir / SESSION_KEY_FILE, "dashboard session key"),
    ]
    seen: set[Path] = set()
    unique = []
    for part in parts:
        if part.path not in seen and part.path.is_file():
            seen.add(part.path)
            unique.append(part)
    return unique


def _named_files(broker: Mapping[str, Any]) -> Iterator[tuple[str, Path]]:
    tables: list[Any] = [broker, *(broker.get("listeners") or [])]
    for table in tables:
        if not isinstance(table, Mapping):
            continue
        for key in _FILE_KEYS:
            value = table.get(key)
            if isinstance(value, str) and value:
                yield key.replace("_", " "), Path(value).resolve()
