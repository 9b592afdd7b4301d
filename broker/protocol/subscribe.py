"""SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK."""

from __future__ import annotations

from .packets import MQTT5, Suback, Subscribe, SubscriptionOptions, Unsuback, Unsubscribe
from .properties import SUBACK, SUBSCRIBE, UNSUBACK, UNSUBSCRIBE, encode_properties, read_properties
from .wire import MalformedPacket, ProtocolError, Reader, encode_str, encode_u16, frame


def _packet_id(r: Reader) -> int:
    packet_id = r.u16()
    if not packet_id:
        raise MalformedPacket("packet identifier 0")
    return packet_id


def decode_subscribe(flags: int, r: Reader, version: int) -> Subscribe:
    if flags != 0x02:
        raise MalformedPacket("SUBSCRIBE fixed header flags must be 2")
    packet_id = _packet_id(r)
    props = read_properties(r, SUBSCRIBE) if version == MQTT5 else {}
    topics: list[tuple[str, SubscriptionOptions]] = []
    while r.remaining():
        topic_filter = r.utf8()
        opts = r.u8()
        qos = opts & 0x03
        if qos == 3:
            raise MalformedPacket("subscription QoS 3")
        if version == MQTT5:
            if opts & 0xC0:
                raise MalformedPacket("subscription options reserved bits set")
            handling = (opts >> 4) & 0x03
            if handling == 3:
                raise ProtocolError("retain handling 3")
            options = SubscriptionOptions(qos, bool(opts & 0x04), bool(opts & 0x08), handling)
        else:
            if opts & 0xFC:
                raise MalformedPacket("subscription options reserved bits set")
            options = SubscriptionOptions(qos)
        topics.append((topic_filter, options))
    if not topics:
        raise ProtocolError("SUBSCRIBE without topic filters")
    return Subscribe(packet_id, topics, props)


def encode_subscribe(p: Subscribe, version: int) -> bytes:
    parts = [encode_u16(p.packet_id)]
    if version == MQTT5:
        parts.append(encode_properties(p.properties))
    for topic_filter, o in p.topics:
        opts = o.qos
        if version == MQTT5:
            opts |= (
                (0x04 if o.no_local else 0)
                | (0x08 if o.retain_as_published else 0)
                | (o.retain_handling << 4)
            )
        parts.append(encode_str(topic_filter) + bytes((opts,)))
    return frame(0x82, b"".join(parts))


def decode_suback(flags: int, r: Reader, version: int) -> Suback:
    if flags:
        raise MalformedPacket("SUBACK fixed header flags must be 0")
    packet_id = _packet_id(r)
    props = read_properties(r, SUBACK) if version == MQTT5 else {}
    return Suback(packet_id, list(r.rest()), props)


def encode_suback(p: Suback, version: int) -> bytes:
    props = encode_properties(p.properties) if version == MQTT5 else b""
    return frame(0x90, encode_u16(p.packet_id) + props + bytes(p.reason_codes))


def decode_unsubscribe(flags: int, r: Reader, version: int) -> Unsubscribe:
    if flags != 0x02:
        raise MalformedPacket("UNSUBSCRIBE fixed header flags must be 2")
    packet_id = _packet_id(r)
    props = read_properties(r, UNSUBSCRIBE) if version == MQTT5 else {}
    topics = []
    while r.remaining():
        topics.append(r.utf8())
    if not topics:
        raise ProtocolError("UNSUBSCRIBE without topic filters")
    return Unsubscribe(packet_id, topics, props)


def encode_unsubscribe(p: Unsubscribe, version: int) -> bytes:
    parts = [encode_u16(p.packet_id)]
    if version == MQTT5:
        parts.append(encode_properties(p.properties))
    parts.extend(encode_str(t) for t in p.topics)
    return frame(0xA2, b"".join(parts))


def decode_unsuback(flags: int, r: Reader, version: int) -> Unsuback:
    if flags:
        raise MalformedPacket("UNSUBACK fixed header flags must be 0")
    packet_id = _packet_id(r)
    if version != MQTT5:
        r.expect_end()
        return Unsuback(packet_id)
    props = read_properties(r, UNSUBACK)
    return Unsuback(packet_id, list(r.rest()), props)


def encode_unsuback(p: Unsuback, version: int) -> bytes:
    body = encode_u16(p.packet_id)
    if version == MQTT5:
        body += encode_properties(p.properties) + bytes(p.reason_codes)
    return frame(0xB0, body)
