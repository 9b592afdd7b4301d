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


def parse_boot_file(
    text: str, file: str = "gateway.toml", broker_defaults: Mapping[str, Any] | None = None
) -> BootConfig:
    """Parse and validate the boot file; raises ConfigErrors listing every problem found.

    ``broker_defaults`` are ``[broker]`` keys set unless the user set them (the appliance
    listens on the network and checks the password file first boot writes).
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigErrors([_syntax_error(text, file, exc)]) from None
    lines = KeyLines(text)
    system, errors = parse_system(doc, file, lines)
    gateway_doc = {k: v for k, v in doc.items() if k != "system"}
    broker = gateway_doc.get("broker", {})
    if isinstance(broker, dict):  # a non-table [broker] is reported by the gateway validator
        gateway_doc["broker"] = {**(broker_defaults or {}), **broker}
    errors += gateway_errors(gateway_doc, file, lines)
    if errors:
        raise ConfigErrors(errors)
    return BootConfig(system, gateway_doc)


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
