"""PINGREQ, PINGRESP, DISCONNECT and AUTH."""

from __future__ import annotations

from .packets import MQTT5, Auth, Disconnect, Pingreq, Pingresp
from .properties import AUTH, DISCONNECT, encode_properties, read_properties
from .wire import MalformedPacket, ProtocolError, Reader, frame

PINGREQ_BYTES = b"\xc0\x00"
PINGRESP_BYTES = b"\xd0\x00"


def _empty(name: str, r: Reader, flags: int) -> None:
    if flags:
        raise MalformedPacket(f"{name} fixed header flags must be 0")
    r.expect_end()


def decode_pingreq(flags: int, r: Reader, version: int) -> Pingreq:
    _empty("PINGREQ", r, flags)
    return Pingreq()


def decode_pingresp(flags: int, r: Reader, version: int) -> Pingresp:
    _empty("PINGRESP", r, flags)
    return Pingresp()


def encode_pingreq(p: Pingreq, version: int) -> bytes:
    return PINGREQ_BYTES


def encode_pingresp(p: Pingresp, version: int) -> bytes:
    return PINGRESP_BYTES


def _reason_and_props(r: Reader, packet_type: int) -> tuple[int, dict]:
    code = r.u8() if r.remaining() else 0
    props = read_properties(r, packet_type) if r.remaining() else {}
    r.expect_end()
    return code, props


def decode_disconnect(flags: int, r: Reader, version: int) -> Disconnect:
    if flags:
        raise MalformedPacket("DISCONNECT fixed header flags must be 0")
    if version != MQTT5:
        r.expect_end()
        return Disconnect()
    return Disconnect(*_reason_and_props(r, DISCONNECT))


def encode_disconnect(p: Disconnect, version: int) -> bytes:
    if version != MQTT5:
        return b"\xe0\x00"
    if p.properties:
        return frame(0xE0, bytes((p.reason_code,)) + encode_properties(p.properties))
    if p.reason_code:
        return frame(0xE0, bytes((p.reason_code,)))
    return b"\xe0\x00"


def decode_auth(flags: int, r: Reader, version: int) -> Auth:
    if version != MQTT5:
        raise ProtocolError("AUTH exists only in MQTT 5.0")
    if flags:
        raise MalformedPacket("AUTH fixed header flags must be 0")
    return Auth(*_reason_and_props(r, AUTH))


def encode_auth(p: Auth, version: int) -> bytes:
    if p.properties or p.reason_code:
        return frame(0xF0, bytes((p.reason_code,)) + encode_properties(p.properties))
    return b"\xf0\x00"
