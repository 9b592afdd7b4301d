"""PUBLISH and its acknowledgements PUBACK, PUBREC, PUBREL, PUBCOMP."""

from __future__ import annotations

from .packets import MQTT5, Publish, Pubrel, _Ack
from .properties import PUBLISH, encode_properties, read_properties
from .wire import (
    MalformedPacket,
    Reader,
    check_utf8,
    encode_str,
    encode_u16,
    encode_varint,
    frame,
)


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


def publish_parts(
    topic: str, qos: int, retain: bool, payload: bytes, version: int, properties: dict | None
) -> tuple[bytes, bytes]:
    """A PUBLISH encoded once, split around its packet identifier (DUP clear).

    ``properties`` are sent for protocol ``version`` 5 only. A QoS 0
    PUBLISH has no packet identifier: the whole packet comes first and the second part is
    empty. The engine encodes a message once per variant and reuses these parts for every
    subscriber; :func:`publish_packet` adds each one's packet identifier.
    """
    topic_bytes = encode_str(topic)
    props = encode_properties(properties) if version == MQTT5 else b""
    length = len(topic_bytes) + (2 if qos else 0) + len(props) + len(payload)
    head = bytes((publish_first_byte(qos, retain, False),)) + encode_varint(length) + topic_bytes
    if not qos:
        return head + props + payload, b""
    return head, props + payload


def publish_packet(head: bytes, tail: bytes, packet_id: int, dup: bool = False) -> bytes:
    """The QoS 1/2 packet of :func:`publish_parts` with its packet identifier and DUP."""
    data = head + packet_id.to_bytes(2, "big") + tail
    if dup:
        data = bytes((data[0] | 0x08,)) + data[1:]
    return data


def encode_publish(p: Publish, version: int) -> bytes:
    head, tail = publish_parts(p.topic, p.qos, p.retain, p.payload, version, p.properties)
    if p.qos:
        return publish_packet(head, tail, p.packet_id, p.dup)
    return bytes((head[0] | 0x08,)) + head[1:] if p.dup else head


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


def ack_packet(packet_type: int, packet_id: int) -> bytes:
    """A PUBACK (4), PUBREC (5), PUBREL (6) or PUBCOMP (7) with reason Success and no
    properties: the same four bytes in every protocol version."""
    return bytes(((packet_type << 4) | (0x02 if packet_type == 6 else 0), 2,
                  packet_id >> 8, packet_id & 0xFF))  # fmt: skip


def encode_ack(p: _Ack, version: int) -> bytes:
    if version != MQTT5 or not (p.properties or p.reason_code):
        return ack_packet(p.type, p.packet_id)
    body = encode_u16(p.packet_id) + bytes((p.reason_code,))
    if p.properties:
        body += encode_properties(p.properties)
    return frame((p.type << 4) | (0x02 if p.type == 6 else 0), body)
