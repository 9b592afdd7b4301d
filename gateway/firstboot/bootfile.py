"""Reading the boot-partition gateway.toml: the gateway's own config plus a ``[system]`` table.

The gateway part is written to /etc as the config the service runs with, after the gateway's
own validator has accepted it; errors anywhere are reported against the boot file's lines so
that the user, editing it on a PC, finds the line and key that need fixing.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import tomli_w

from gateway.config import ConfigError, ConfigErrors, parse_config
from gateway.config.tomlpos import KeyLines, PathPart
from gateway.firstboot.settings import SystemSettings, parse_system

_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")
_PATH_PART = re.compile(r'"((?:[^"\\]|\\.)*)"|([A-Za-z0-9_-]+)|\[(\d+)\]')

GENERATED_HEADER = (
    "# Generated at boot from gateway.toml on the boot partition: edit that file instead.\n"
    "# This copy is the last configuration that was valid; the service runs with it.\n"
)


@dataclass(frozen=True)
class BootConfig:
    """A valid boot file: system settings and the gateway config document to write to /etc
    (the boot file without ``[system]``, with the broker settings first boot owns added)."""

    system: SystemSettings
    gateway: dict[str, Any]


def parse_boot_file(text: str, file: str = "gateway.toml", password_file: str | None = None) -> BootConfig:
    """Parse and validate the boot file; raises ConfigErrors listing every problem found.

    With ``password_file``, the broker is set up as the appliance's: see appliance_broker.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigErrors([_syntax_error(text, file, exc)]) from None
    lines = KeyLines(text)
    system, errors = parse_system(doc, file, lines)
    gateway_doc = {k: v for k, v in doc.items() if k != "system"}
    broker = gateway_doc.get("broker", {})
    # A non-table [broker] is left for the gateway validator to report.
    if password_file is not None and isinstance(broker, dict):
        gateway_doc["broker"] = appliance_broker(broker, password_file)
    errors += [e for e in gateway_errors(gateway_doc, file, lines) if not _own_file_missing(e, password_file)]
    if errors:
        raise ConfigErrors(errors)
    return BootConfig(system, gateway_doc)


def _own_file_missing(error: ConfigError, password_file: str | None) -> bool:
    """The appliance's password file is first boot's to write (after this check), and it is
    on the Pi, not on the PC where ``--check`` or the image build validates the boot file."""
    return (password_file is not None and error.key.endswith(".password_file")
            and error.message.startswith(f"cannot read {password_file}:"))


def _syntax_error(text: str, file: str, exc: tomllib.TOMLDecodeError) -> ConfigError:
    """A TOML syntax error with its line and, where the line assigns one, the key."""
    message = str(exc)
    match = _TOML_POSITION.search(message)
    line = int(match.group(1)) if match else None
    reason = _TOML_POSITION.sub("", message).strip()
    key = ""
    if line is not None:
        source = text.splitlines()[line - 1] if line <= len(text.splitlines()) else ""
        assigned = source.split("=", 1)[0].strip() if "=" in source else source.strip()
        key = assigned if re.fullmatch(r"[\w\"'. -\[\]]+", assigned or "-") else ""
    return ConfigError(file, line, key, f"TOML syntax: {reason}")


#: The broker's store on the appliance: inside the unit's StateDirectory, which it may write.
APPLIANCE_BROKER_DATA = "/var/lib/sensor-gateway/broker"


def appliance_broker(broker: Mapping[str, Any], password_file: str) -> dict[str, Any]:
    """The ``[broker]`` table completed for the appliance: without listeners of the user's,
    one TCP listener on every address (port 1883 unless ``port`` says otherwise) that checks
    ``password_file``; the user's own listeners get that file unless they set one or allow
    anonymous clients. The broker's store is on (retained values, sessions and queued
    messages survive a power cut) in the service's state directory unless ``data_dir``
    says otherwise; ``persistence = "low-wear"`` spares the SD card."""
    out = dict(broker)
    out.setdefault("data_dir", APPLIANCE_BROKER_DATA)
    listeners = out.get("listeners")
    if listeners is None:
        port = out.get("port", 1883)
        out["listeners"] = [{"kind": "tcp", "host": "0.0.0.0", "port": port, "password_file": password_file}]
    elif isinstance(listeners, list):
        out["listeners"] = [
            {**item, "password_file": password_file}
            if isinstance(item, dict) and "password_file" not in item and not item.get("allow_anonymous")
            else item
            for item in listeners
        ]
    return out


def mqtt_port(broker: Mapping[str, Any]) -> int:
    """The port phones connect to: the first plain TCP listener's."""
    for item in broker.get("listeners") or []:
        if isinstance(item, Mapping) and item.get("kind", "tcp") == "tcp":
            return int(item.get("port") or 1883)
    return int(broker.get("port", 1883))


def render_gateway_config(doc: dict[str, Any]) -> str:
    """The /etc config file text for a gateway document."""
    return GENERATED_HEADER + tomli_w.dumps(doc)


def gateway_errors(doc: dict[str, Any], file: str, lines: KeyLines) -> list[ConfigError]:
    """Errors the gateway's own validator finds in ``doc``, located in the boot file.

    The document is validated as the text that would be written to /etc; its keys are the
    boot file's keys, so each error's key is looked up in the boot file for the line the
    user sees.
    """
    try:
        parse_config(render_gateway_config(doc), file)
    except ConfigErrors as exc:
        return [
            ConfigError(file, lines.line(parse_key(e.key)) if e.key else None, e.key, e.message)
            for e in exc.errors
        ]
    return []


def parse_key(key: str) -> tuple[PathPart, ...]:
    """The inverse of ``format_path``: ``room.kitchen[1].pin`` -> ("room", "kitchen", 1, "pin")."""
    parts: list[PathPart] = []
    for quoted, bare, index in _PATH_PART.findall(key):
        if index:
            parts.append(int(index))
        else:
            parts.append(quoted.encode().decode("unicode_escape") if quoted else bare)
    return tuple(parts)
