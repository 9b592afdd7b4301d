"""MQTT 5.0 properties: identifiers, types, which packet may carry which, and their codec.

Properties travel as a plain ``dict`` keyed by the snake_case name. ``user_property`` is a
list of ``(name, value)`` pairs; ``subscription_identifier`` is a list of ints (a server's
PUBLISH may carry several), every other property a single value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .wire import (
    MalformedPacket,
    ProtocolError,
    Reader,
    encode_binary,
    encode_str,
    encode_u16,
    encode_u32,
    encode_varint,
)

Properties = dict[str, Any]

BYTE, U16, U32, VARINT, UTF8, BINARY, PAIR = range(7)

# Packet type numbers (fixed header high nibble); the AUTH packet is 15, Will properties -1.
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, DISCONNECT, AUTH, WILL = 8, 9, 10, 11, 14, 15, -1
_ACKS = frozenset({PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK})

# id: (name, type, packets that may carry it)
_TABLE: dict[int, tuple[str, int, frozenset[int]]] = {
    0x01: ("payload_format_indicator", BYTE, frozenset({PUBLISH, WILL})),
    0x02: ("message_expiry_interval", U32, frozenset({PUBLISH, WILL})),
    0x03: ("content_type", UTF8, frozenset({PUBLISH, WILL})),
    0x08: ("response_topic", UTF8, frozenset({PUBLISH, WILL})),
    0x09: ("correlation_data", BINARY, frozenset({PUBLISH, WILL})),
    0x0B: ("subscription_identifier", VARINT, frozenset({PUBLISH, SUBSCRIBE})),
    0x11: ("session_expiry_interval", U32, frozenset({CONNECT, CONNACK, DISCONNECT})),
    0x12: ("assigned_client_identifier", UTF8, frozenset({CONNACK})),
    0x13: ("server_keep_alive", U16, frozenset({CONNACK})),
    0x15: ("authentication_method", UTF8, frozenset({CONNECT, CONNACK, AUTH})),
    0x16: ("authentication_data", BINARY, frozenset({CONNECT, CONNACK, AUTH})),
    0x17: ("request_problem_information", BYTE, frozenset({CONNECT})),
    0x18: ("will_delay_interval", U32, frozenset({WILL})),
    0x19: ("request_response_information", BYTE, frozenset({CONNECT})),
    0x1A: ("response_information", UTF8, frozenset({CONNACK})),
    0x1C: ("server_reference", UTF8, frozenset({CONNACK, DISCONNECT})),
    0x1F: ("reason_string", UTF8, frozenset({CONNACK, DISCONNECT, AUTH}) | _ACKS),
    0x21: ("receive_maximum", U16, frozenset({CONNECT, CONNACK})),
    0x22: ("topic_alias_maximum", U16, frozenset({CONNECT, CONNACK})),
    0x23: ("topic_alias", U16, frozenset({PUBLISH})),
    0x24: ("maximum_qos", BYTE, frozenset({CONNACK})),
    0x25: ("retain_available", BYTE, frozenset({CONNACK})),
    0x26: ("user_property", PAIR, frozenset(range(-1, 16))),
    0x27: ("maximum_packet_size", U32, frozenset({CONNECT, CONNACK})),
    0x28: ("wildcard_subscription_available", BYTE, frozenset({CONNACK})),
    0x29: ("subscription_identifier_available", BYTE, frozenset({CONNACK})),
    0x2A: ("shared_subscription_available", BYTE, frozenset({CONNACK})),
}

_BY_NAME: dict[str, tuple[int, int]] = {
    name: (pid, kind) for pid, (name, kind, _) in _TABLE.items()
}
PROPERTY_NAMES = frozenset(_BY_NAME)

_READERS: dict[int, Callable[[Reader], Any]] = {
    BYTE: Reader.u8,
    U16: Reader.u16,
    U32: Reader.u32,
    VARINT: Reader.varint,
    UTF8: Reader.utf8,
    BINARY: Reader.binary,
    PAIR: lambda r: (r.utf8(), r.utf8()),
}

_WRITERS: dict[int, Callable[[Any], bytes]] = {
    BYTE: lambda v: bytes((v,)),
    U16: encode_u16,
    U32: encode_u32,
    VARINT: encode_varint,
    UTF8: encode_str,
    BINARY: encode_binary,
    PAIR: lambda kv: encode_str(kv[0]) + encode_str(kv[1]),
}

_ZERO_FORBIDDEN = frozenset({"receive_maximum", "maximum_packet_size", "subscription_identifier"})
_BOOLEAN = frozenset(
    {
        "payload_format_indicator",
        "request_problem_information",
        "request_response_information",
        "maximum_qos",
        "retain_available",
        "wildcard_subscription_available",
        "subscription_identifier_available",
        "shared_subscription_available",
    }
)


def read_properties(reader: Reader, packet_type: int) -> Properties:
    """Read a property block (length + properties) and validate it for ``packet_type``."""
    length = reader.varint()
    end = reader.pos + length
    if end > reader.end:
        raise MalformedPacket("property length exceeds the packet")
    props: Properties = {}
    if not length:
        return props
    sub = Reader(reader.buf, reader.pos, end)
    while sub.pos < end:
        pid = sub.varint()
        entry = _TABLE.get(pid)
        if entry is None:
            raise MalformedPacket(f"unknown property identifier 0x{pid:02x}")
        name, kind, allowed = entry
        if packet_type not in allowed:
            raise ProtocolError(f"property {name} not allowed in this packet")
        value = _READERS[kind](sub)
        if kind == PAIR:
            props.setdefault(name, []).append(value)
        elif pid == 0x0B:
            if value == 0:
                raise ProtocolError("subscription identifier of 0")
            if packet_type == SUBSCRIBE and name in props:
                raise ProtocolError("subscription identifier given twice")
            props.setdefault(name, []).append(value)
        else:
            if name in props:
                raise ProtocolError(f"property {name} given twice")
            if name in _ZERO_FORBIDDEN and value == 0:
                raise ProtocolError(f"property {name} of 0")
            if name in _BOOLEAN and value > (2 if name == "maximum_qos" else 1):
                raise ProtocolError(f"property {name} out of range")
            props[name] = value
    reader.pos = end
    return props


def encode_properties(props: Properties | None) -> bytes:
    """Encode a property block, length prefix included (a single 0 byte when empty)."""
    if not props:
        return b"\x00"
    parts: list[bytes] = []
    for name, value in props.items():
        pid, kind = _BY_NAME[name]
        head = encode_varint(pid)
        write = _WRITERS[kind]
        if kind == PAIR or pid == 0x0B:
            parts.extend(head + write(item) for item in value)
        else:
            parts.append(head + write(value))
    body = b"".join(parts)
    return encode_varint(len(body)) + body
