"""CONNECT and CONNACK."""

from __future__ import annotations

from .packets import MQTT5, Connack, Connect, Will
from .properties import CONNACK, CONNECT, WILL, encode_properties, read_properties
from .reasons import connack_code_v3
from .wire import (
    MalformedPacket,
    MQTTError,
    ProtocolError,
    Reader,
    encode_binary,
    encode_str,
    encode_u16,
    frame,
)

_PROTOCOLS = {("MQTT", 4), ("MQTT", 5), ("MQIsdp", 3)}


class UnsupportedProtocolVersion(MQTTError):
    """A known protocol name with a level this broker does not speak: answer, then close."""

    reason_code = 0x84

    def __init__(self, level: int) -> None:
        super().__init__(f"unsupported protocol level {level}")
        self.level = level


def decode_connect(flags: int, r: Reader, version: int) -> Connect:
    if flags:
        raise MalformedPacket("CONNECT fixed header flags must be 0")
    name = r.utf8()
    level = r.u8()
    bridge = bool(level & 0x80) and (level & 0x7F) < 5
    if bridge:
        level &= 0x7F
    if (name, level) not in _PROTOCOLS:
        if name in ("MQTT", "MQIsdp"):
            raise UnsupportedProtocolVersion(level)
        raise ProtocolError(f"unknown protocol name {name!r}")
    cflags = r.u8()
    if cflags & 0x01:
        raise MalformedPacket("CONNECT reserved flag set")
    will_flag = bool(cflags & 0x04)
    will_qos = (cflags >> 3) & 0x03
    will_retain = bool(cflags & 0x20)
    has_password = bool(cflags & 0x40)
    has_username = bool(cflags & 0x80)
    if will_qos == 3:
        raise MalformedPacket("will QoS 3")
    if not will_flag and (will_qos or will_retain):
        raise MalformedPacket("will QoS or retain set without a will")
    if level < MQTT5 and has_password and not has_username:
        raise MalformedPacket("password without user name")
    keepalive = r.u16()
    props = read_properties(r, CONNECT) if level == MQTT5 else {}
    client_id = r.utf8()
    will = None
    if will_flag:
        will_props = read_properties(r, WILL) if level == MQTT5 else {}
        will_topic = r.utf8()
        will_payload = r.binary()
        will = Will(will_topic, will_payload, will_qos, will_retain, will_props)
    username = r.utf8() if has_username else None
    password = r.binary() if has_password else None
    r.expect_end()
    return Connect(
        protocol_level=level,
        client_id=client_id,
        clean_start=bool(cflags & 0x02),
        keepalive=keepalive,
        will=will,
        username=username,
        password=password,
        properties=props,
        protocol_name=name,
        bridge=bridge,
    )


def encode_connect(p: Connect, version: int) -> bytes:
    level = p.protocol_level
    cflags = 0x02 if p.clean_start else 0
    if p.will is not None:
        cflags |= 0x04 | (p.will.qos << 3) | (0x20 if p.will.retain else 0)
    if p.password is not None:
        cflags |= 0x40
    if p.username is not None:
        cflags |= 0x80
    name = "MQIsdp" if level == 3 else "MQTT"
    wire_level = level | 0x80 if p.bridge and level < 5 else level
    parts = [encode_str(name), bytes((wire_level, cflags)), encode_u16(p.keepalive)]
    if level == MQTT5:
        parts.append(encode_properties(p.properties))
    parts.append(encode_str(p.client_id))
    if p.will is not None:
        if level == MQTT5:
            parts.append(encode_properties(p.will.properties))
        parts.append(encode_str(p.will.topic))
        parts.append(encode_binary(p.will.payload))
    if p.username is not None:
        parts.append(encode_str(p.username))
    if p.password is not None:
        parts.append(encode_binary(p.password))
    return frame(0x10, b"".join(parts))


def decode_connack(flags: int, r: Reader, version: int) -> Connack:
    if flags:
        raise MalformedPacket("CONNACK fixed header flags must be 0")
    ack_flags = r.u8()
    if ack_flags & 0xFE:
        raise MalformedPacket("CONNACK reserved flags set")
    code = r.u8()
    props = read_properties(r, CONNACK) if version == MQTT5 else {}
    r.expect_end()
    return Connack(bool(ack_flags & 1), code, props)


def encode_connack(p: Connack, version: int) -> bytes:
    flags = 1 if p.session_present else 0
    if version == MQTT5:
        body = bytes((flags, p.reason_code)) + encode_properties(p.properties)
    else:
        body = bytes((flags, connack_code_v3(p.reason_code)))
    return frame(0x20, body)
