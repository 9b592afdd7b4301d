"""Bridge settings from a TOML file, with Mosquitto's names and ``topic`` line syntax.

```toml
[[bridge]]
name = "cloud"
address = "mqtt.example.com:8883"
protocol = "mqttv50"              # or "mqttv311" (Mosquitto's bridge_protocol_version);
                                  # unset: 5.0, and 3.1.1 when the upstream refuses 5.0
remote_clientid = "gateway-1"
remote_username = "gw"
remote_password = "secret"
bridge_cafile = "/etc/ssl/certs/ca-certificates.crt"   # any bridge_* TLS key turns TLS on
topic = ["home/# out 1 \"\" site1/", "site1/cmd/# in 1 home/cmd/ site1/cmd/"]
queue_max_bytes = 1048576         # `out` messages kept while the upstream is down
```

A ``topic`` entry reads ``pattern [direction [qos [local_prefix remote_prefix]]]``: direction
``out`` (local to remote, the default), ``in`` or ``both``; ``""`` stands for an empty prefix.
"""

from __future__ import annotations

import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..engine.topics import valid_topic_filter

DIRECTIONS = ("out", "in", "both")
PROTOCOLS = {"mqttv311": 4, "mqttv50": 5}


class BridgeConfigError(ValueError):
    """A bridge setting that cannot work; the message names the file, bridge and key."""


@dataclass(frozen=True)
class TopicRule:
    """One ``topic`` line: which messages cross the bridge, which way, and renamed how."""

    pattern: str
    direction: str = "out"
    qos: int = 0
    local_prefix: str = ""
    remote_prefix: str = ""

    @property
    def local_filter(self) -> str:
        return self.local_prefix + self.pattern

    @property
    def remote_filter(self) -> str:
        return self.remote_prefix + self.pattern

    @property
    def outgoing(self) -> bool:
        return self.direction in ("out", "both")

    @property
    def incoming(self) -> bool:
        return self.direction in ("in", "both")

    def to_remote(self, local_topic: str) -> str:
        """The remote name of a local topic matched by this rule."""
        return self.remote_prefix + local_topic[len(self.local_prefix) :]

    def to_local(self, remote_topic: str) -> str:
        """The local name of a remote topic matched by this rule."""
        return self.local_prefix + remote_topic[len(self.remote_prefix) :]


@dataclass(frozen=True)
class BridgeConfig:
    """One connection to an upstream broker."""

    name: str
    host: str
    port: int = 1883
    protocol: int = 5  # 5: MQTT 5.0, 4: MQTT 3.1.1
    #: Connect with 3.1.1 when the upstream refuses 5.0 (when ``protocol`` was not set).
    protocol_fallback: bool = True
    topics: tuple[TopicRule, ...] = ()
    client_id: str = ""
    username: str | None = None
    password: str | None = None
    clean_session: bool = False
    keepalive: int = 60
    try_private: bool = True  # 3.1.1: announce ourselves as a bridge (protocol level | 0x80)
    tls: bool = False
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    insecure: bool = False  # TLS without checking the server's name (test setups only)
    backoff_min: float = 1.0
    backoff_max: float = 60.0
    queue_max_bytes: int = 1_048_576
    max_inflight: int = 20

    @property
    def remote_client_id(self) -> str:
        return self.client_id or f"bridge-{self.name}"


def parse_topic(line: str) -> TopicRule:
    """A Mosquitto ``topic`` line (without the word ``topic``)."""
    words = shlex.split(line)
    if not 1 <= len(words) <= 5 or len(words) == 4:
        raise ValueError("expected: pattern [in|out|both [qos [local_prefix remote_prefix]]]")
    pattern = words[0]
    direction = words[1] if len(words) > 1 else "out"
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    try:
        qos = int(words[2]) if len(words) > 2 else 0
    except ValueError:
        raise ValueError(f"qos must be 0, 1 or 2, not {words[2]!r}") from None
    if qos not in (0, 1, 2):
        raise ValueError(f"qos must be 0, 1 or 2, not {qos}")
    local_prefix, remote_prefix = (words[3], words[4]) if len(words) == 5 else ("", "")
    rule = TopicRule(pattern, direction, qos, local_prefix, remote_prefix)
    for f in (rule.local_filter, rule.remote_filter):
        if not valid_topic_filter(f):
            raise ValueError(f"{f!r} is not a valid topic filter")
    return rule


_KEYS = {
    "name", "address", "host", "port", "protocol", "bridge_protocol_version", "topic",
    "remote_clientid", "remote_username", "remote_password", "cleansession", "keepalive_interval",
    "try_private", "bridge_cafile", "bridge_certfile", "bridge_keyfile", "bridge_insecure",
    "tls", "restart_timeout", "queue_max_bytes", "max_inflight",
}  # fmt: skip


def bridge_from_table(table: dict[str, Any]) -> BridgeConfig:
    """One ``[[bridge]]`` table; raises ValueError naming the key at fault."""
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}")
    name = _get(table, "name", str)
    if not name or "/" in name or "+" in name or "#" in name:
        raise ValueError("name: a non-empty name without / + or #")
    host, port = _address(table)
    explicit = table.get("protocol", table.get("bridge_protocol_version"))
    proto_name = "mqttv50" if explicit is None else explicit
    if proto_name not in PROTOCOLS:
        raise ValueError(f"protocol: one of {', '.join(PROTOCOLS)}, not {proto_name!r}")
    lines = table.get("topic", [])
    if isinstance(lines, str):
        lines = [lines]
    rules = []
    for line in lines:
        try:
            rules.append(parse_topic(str(line)))
        except ValueError as exc:
            raise ValueError(f"topic {line!r}: {exc}") from None
    if not rules:
        raise ValueError("topic: at least one topic line is needed")
    tls_keys = ("bridge_cafile", "bridge_certfile", "bridge_keyfile")
    restart = table.get("restart_timeout", [1, 60])
    if isinstance(restart, int | float):
        restart = [restart, max(restart, 60)]
    if len(restart) != 2 or not 0 < restart[0] <= restart[1]:
        raise ValueError("restart_timeout: [base, cap] seconds with 0 < base <= cap")
    config = BridgeConfig(
        name=name,
        host=host,
        port=port,
        protocol=PROTOCOLS[proto_name],
        protocol_fallback=explicit is None,
        topics=tuple(rules),
        client_id=_get(table, "remote_clientid", str, ""),
        username=_get(table, "remote_username", str, None),
        password=_get(table, "remote_password", str, None),
        clean_session=_get(table, "cleansession", bool, False),
        keepalive=_get(table, "keepalive_interval", int, 60),
        try_private=_get(table, "try_private", bool, True),
        tls=_get(table, "tls", bool, any(k in table for k in tls_keys)),
        cafile=_get(table, "bridge_cafile", str, None),
        certfile=_get(table, "bridge_certfile", str, None),
        keyfile=_get(table, "bridge_keyfile", str, None),
        insecure=_get(table, "bridge_insecure", bool, False),
        backoff_min=float(restart[0]),
        backoff_max=float(restart[1]),
        queue_max_bytes=_get(table, "queue_max_bytes", int, 1_048_576),
        max_inflight=_get(table, "max_inflight", int, 20),
    )
    if config.keepalive < 5:
        raise ValueError("keepalive_interval: at least 5 seconds")
    if config.max_inflight < 1 or config.queue_max_bytes < 1:
        raise ValueError("max_inflight and queue_max_bytes must be positive")
    return config


def load_bridges(path: str | Path) -> list[BridgeConfig]:
    """Every ``[[bridge]]`` of a TOML file; BridgeConfigError names file, bridge and key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BridgeConfigError(f"{path}: {exc}") from exc
    tables = data.get("bridge", [])
    if not isinstance(tables, list):
        raise BridgeConfigError(f"{path}: [[bridge]] must be an array of tables")
    bridges = []
    for i, table in enumerate(tables):
        label = table.get("name", f"#{i + 1}") if isinstance(table, dict) else f"#{i + 1}"
        try:
            bridges.append(bridge_from_table(table))
        except (ValueError, TypeError) as exc:
            raise BridgeConfigError(f"{path}: bridge {label!r}: {exc}") from None
    names = [b.name for b in bridges]
    if len(set(names)) != len(names):
        raise BridgeConfigError(f"{path}: two bridges share a name")
    return bridges


def _get(table: dict[str, Any], key: str, kind: type, default: Any = ...) -> Any:
    if key not in table:
        if default is ...:
            raise ValueError(f"{key}: missing")
        return default
    value = table[key]
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise ValueError(f"{key}: expected {kind.__name__}, got {value!r}")
    return value


def _address(table: dict[str, Any]) -> tuple[str, int]:
    if "address" in table:
        address = _get(table, "address", str)
        host, sep, port = address.rpartition(":")
        if not sep:
            host, port = address, "1883"
        try:
            return host.strip("[]"), int(port)
        except ValueError:
            raise ValueError(f"address: host:port, not {address!r}") from None
    return _get(table, "host", str), _get(table, "port", int, 1883)
