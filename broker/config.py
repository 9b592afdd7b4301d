"""Broker settings, with defaults that suit a home gateway."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class BrokerConfig:
    """Every tunable of the broker. Field names match the CLI options and the TOML keys."""

    host: str = field(
        default="127.0.0.1", metadata={"help": "Address to listen on for MQTT over TCP."}
    )
    port: int = field(
        default=1883, metadata={"help": "TCP port to listen on (0 picks a free one)."}
    )
    sys_interval: float = field(
        default=10.0,
        metadata={"help": "Seconds between $SYS/broker/... updates; 0 turns them off."},
    )
    deny_subscribe: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Filters nobody may subscribe to (SUBACK 0x80); per-user rules belong in an ACL file."
        },
    )
    max_packet_size: int = field(
        default=1_048_576,
        metadata={"help": "Largest packet accepted from a client (bytes, fixed header included)."},
    )
    receive_maximum: int = field(
        default=1024,
        metadata={
            "help": "MQTT 5.0 Receive Maximum we announce: QoS 1/2 publishes a client may have unacknowledged."
        },
    )
    max_inflight: int = field(
        default=64,
        metadata={
            "help": "QoS 1/2 messages in flight towards a 3.1/3.1.1 client (5.0 clients say their own)."
        },
    )
    max_queued_messages: int = field(
        default=10_000,
        metadata={
            "help": "Messages queued per client beyond its in-flight window (offline or slow)."
        },
    )
    max_queued_bytes: int = field(
        default=64 * 1024 * 1024, metadata={"help": "Bytes of payload queued per client."}
    )
    topic_alias_maximum: int = field(
        default=64, metadata={"help": "Topic aliases a 5.0 client may use towards us."}
    )
    max_keepalive: int = field(
        default=0,
        metadata={
            "help": "Upper bound for MQTT 5.0 clients' keepalives, sent as Server Keep Alive (3.x clients cannot be told); 0 means no bound."
        },
    )
    max_session_expiry: int = field(
        default=0,
        metadata={"help": "Upper bound for session expiry intervals (seconds); 0 means no bound."},
    )
    connect_timeout: float = field(
        default=10.0,
        metadata={
            "help": "Seconds from TCP accept to CONNECT (TLS handshake and WebSocket upgrade included)."
        },
    )
    max_connections: int = field(
        default=0, metadata={"help": "Maximum simultaneous client connections; 0 means no limit."}
    )
    max_connection_rate: int = field(
        default=20,
        metadata={
            "help": "New connections per second accepted from one address (loopback exempt); 0 means no limit."
        },
    )
    max_pending_per_address: int = field(
        default=16,
        metadata={
            "help": "Connections one address may hold open before logging in (TLS handshake, WebSocket upgrade and CONNECT included; loopback exempt); 0 means no limit."
        },
    )
    listeners: list[Any] = field(
        default_factory=list,
        metadata={
            "help": "Listeners (tcp, tls, ws, wss) with their own security; empty: one TCP listener on host:port."
        },
    )
    data_dir: str = field(
        default="",
        metadata={
            "help": "Directory for durable state (broker.db); empty keeps everything in memory only."
        },
    )
    persistence: str = field(
        default="full",
        metadata={
            "help": "With data_dir: 'full' keeps sessions, retained and every acknowledged QoS 1/2 message; 'low-wear' keeps only retained messages and subscriptions (fewer SD card writes)."
        },
    )
    persistence_interval: float = field(
        default=30.0,
        metadata={"help": "Seconds between disk writes in the low-wear persistence mode."},
    )
    bridge_config: str = field(
        default="",
        metadata={"help": "TOML file with [[bridge]] tables: connections to upstream brokers."},
    )
    policy: Any = field(
        default=None,
        metadata={
            "help": "Authorization policy object (see broker.engine.policy); None builds one from the settings above."
        },
    )
    uvloop: bool = field(default=True, metadata={"help": "Use uvloop when it is installed."})
