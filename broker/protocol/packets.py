"""Packet objects: one class per MQTT control packet, version-neutral.

The codec fills ``properties`` only for MQTT 5.0; for 3.1/3.1.1 they stay empty and reason
codes are mapped to the older return codes on encoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from .properties import Properties

MQTT31 = 3
MQTT311 = 4
MQTT5 = 5


@dataclass(slots=True)
class Will:
    """The last will carried by CONNECT."""

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    properties: Properties = field(default_factory=dict)


@dataclass(slots=True)
class Connect:
    type: ClassVar[int] = 1
    protocol_level: int = MQTT311
    client_id: str = ""
    clean_start: bool = True
    keepalive: int = 60
    will: Will | None = None
    username: str | None = None
    password: bytes | None = None
    properties: Properties = field(default_factory=dict)
    protocol_name: str = "MQTT"
    #: The "bridge" bit (0x80 on the protocol level, 3.1/3.1.1): a broker connecting as a
    #: bridge asks not to get its own messages back and to keep retain flags as published.
    bridge: bool = False


@dataclass(slots=True)
class Connack:
    type: ClassVar[int] = 2
    session_present: bool = False
    reason_code: int = 0
    properties: Properties = field(default_factory=dict)


@dataclass(slots=True)
class Publish:
    type: ClassVar[int] = 3
    topic: str = ""
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int = 0
    properties: Properties = field(default_factory=dict)


@dataclass(slots=True)
class _Ack:
    """PUBACK, PUBREC, PUBREL and PUBCOMP share one shape."""

    packet_id: int = 0
    reason_code: int = 0
    properties: Properties = field(default_factory=dict)


@dataclass(slots=True)
class Puback(_Ack):
    type: ClassVar[int] = 4


@dataclass(slots=True)
class Pubrec(_Ack):
    type: ClassVar[int] = 5


@dataclass(slots=True)
class Pubrel(_Ack):
    type: ClassVar[int] = 6


@dataclass(slots=True)
class Pubcomp(_Ack):
    type: ClassVar[int] = 7


@dataclass(slots=True)
class SubscriptionOptions:
    """The options byte of one SUBSCRIBE entry."""

    qos: int = 0
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: int = 0


@dataclass(slots=True)
class Subscribe:
    type: ClassVar[int] = 8
    packet_id: int = 0
    topics: list[tuple[str, SubscriptionOptions]] = field(default_factory=list)
    properties: Properties = field(default_factory=dict)


@dataclass(slots=True)
class Suback:
    type: ClassVar[int] = 9
    packet_id: int = 0
    reason_codes: list[int] = field(default_factory=list)
    properties: Properties = field(default_factory=dict)


@dataclass(slots=True)
class Unsubscribe:
    type: ClassVar[int] = 10
    packet_id: int = 0
    topics: list[str] = field(default_factory=list)
    properties: Properties = field(default_factory=dict)


@dataclass(slots=True)
class Unsuback:
    type: ClassVar[int] = 11
    packet_id: int = 0
    reason_codes: list[int] = field(default_factory=list)
    properties: Properties = field(default_factory=dict)


@dataclass(slots=True)
class Pingreq:
    type: ClassVar[int] = 12


@dataclass(slots=True)
class Pingresp:
    type: ClassVar[int] = 13


@dataclass(slots=True)
class Disconnect:
    type: ClassVar[int] = 14
    reason_code: int = 0
    properties: Properties = field(default_factory=dict)


@dataclass(slots=True)
class Auth:
    type: ClassVar[int] = 15
    reason_code: int = 0
    properties: Properties = field(default_factory=dict)


Packet = (
    Connect
    | Connack
    | Publish
    | Puback
    | Pubrec
    | Pubrel
    | Pubcomp
    | Subscribe
    | Suback
    | Unsubscribe
    | Unsuback
    | Pingreq
    | Pingresp
    | Disconnect
    | Auth
)
