"""PUBLISH and its acknowledgements PUBACK, PUBREC, PUBREL, PUBCOMP."""

from __future__ import annotations

from .packets import MQTT5, Publish, Pubrel, _Ack
from .properties import PUBLISH, encode_properties, read_properties
from .wire import MalformedPacket, Reader, check_utf8, encode_str, encode_u16, frame


def decode_publish(flags: int, r: Reader, version: int) -> Publish:
    qos = (flags >> 1) & 0x03
    if qos == 3:
        raise MalformedPacket("PUBLISH with QoS 3")
    dup = bool(flags & 0x08)
    if dup and not qos:
        raise MalformedPacket("DUP set on a QoS 0 PUBLISH")
    buf = r.buf
    pos = r.pos
    if pos + 2 > r.end:
        raise MalformedPacket("PUBLISH too short")
    n = (buf[pos] << 8) | buf[pos + 1]
    pos += 2
    if pos + n > r.end:
        raise MalformedPacket("PUBLISH topic longer than the packet")
    raw = bytes(buf[pos : pos + n])
    try:
        topic = raw.decode("ascii")
    except UnicodeDecodeError:
        topic = check_utf8(raw)
    else:
        if "\x00" in topic:
            raise MalformedPacket("topic contains U+0000")
    pos += n
    packet_id = 0
    if qos:
        if pos + 2 > r.end:
            raise MalformedPacket("PUBLISH missing its packet identifier")
        packet_id = (buf[pos] << 8) | buf[pos + 1]
        if not packet_id:
            raise MalformedPacket("packet identifier 0")
        pos += 2
    r.pos = pos
    props = read_properties(r, PUBLISH) if version == MQTT5 else {}
    return Publish(topic, r.rest(), qos, bool(flags & 0x01), dup, packet_id, props)


def publish_first_byte(qos: int, retain: bool, dup: bool) -> int:
    return 0x30 | (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)


def encode_publish(p: Publish, version: int) -> bytes:
    parts = [encode_str(p.topic)]
    if p.qos:
        parts.append(encode_u16(p.packet_id))
    if version == MQTT5:
        parts.append(encode_properties(p.properties))
    parts.append(p.payload)
    return frame(publish_first_byte(p.qos, p.retain, p.dup), b"".join(parts))


def ack_decoder(cls: type[_Ack]):  # noqa: ANN201 - returns a decoder function
    """Build the decoder for one of the four acknowledgement packets."""
    want_flags = 0x02 if cls is Pubrel else 0x00

    def decode(flags: int, r: Reader, version: int) -> _Ack:
        if flags != want_flags:
            raise MalformedPacket(f"{cls.__name__.upper()} fixed header flags must be {want_flags}")
        packet_id = r.u16()
        if not packet_id:
            raise MalformedPacket("packet identifier 0")
        code = 0
        props: dict = {}
        if version == MQTT5:
            if r.remaining():
                code = r.u8()
            if r.remaining():
                props = read_properties(r, cls.type)
        r.expect_end()
        return cls(packet_id, code, props)

    return decode


def encode_ack(p: _Ack, version: int) -> bytes:
    first = (p.type << 4) | (0x02 if p.type == 6 else 0)
    body = encode_u16(p.packet_id)
    if version == MQTT5:
        if p.properties:
            body += bytes((p.reason_code,)) + encode_properties(p.properties)
        elif p.reason_code:
            body += bytes((p.reason_code,))
    return frame(first, body)
