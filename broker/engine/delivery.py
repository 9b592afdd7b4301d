"""Outgoing PUBLISH: encoded once per variant, written to every subscriber that takes it."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..protocol.packets import MQTT5
from ..protocol.properties import encode_properties
from ..protocol.publish import publish_first_byte
from ..protocol.wire import encode_str, encode_varint
from .message import Message

if TYPE_CHECKING:
    from .connection import Connection


def _build(
    topic: bytes, qos: int, retain: bool, props: bytes, payload: bytes
) -> tuple[bytes, bytes]:
    """Split a PUBLISH into the bytes before and after its packet identifier."""
    length = len(topic) + (2 if qos else 0) + len(props) + len(payload)
    head = bytes((publish_first_byte(qos, retain, False),)) + encode_varint(length) + topic
    return head, props + payload


def publish_bytes(
    conn: Connection,
    msg: Message,
    qos: int,
    retain: bool,
    sub_ids: tuple[int, ...],
    packet_id: int,
    dup: bool,
    now: float,
) -> bytes | None:
    """The PUBLISH packet for ``conn``; None when the message has expired or is too large."""
    v5 = conn.version == MQTT5
    new_alias = 0
    if v5 and (sub_ids or conn.alias_out_max or msg.expires_at is not None):
        props = dict(msg.properties)
        if msg.expires_at is not None:
            remaining = math.ceil(msg.expires_at - now)
            if remaining <= 0:
                return None
            props["message_expiry_interval"] = remaining
        if sub_ids:
            props["subscription_identifier"] = list(sub_ids)
        topic = msg.topic
        if conn.alias_out_max:
            alias = conn.aliases_out.get(topic)
            if alias is not None:
                props["topic_alias"] = alias
                topic = ""
            elif len(conn.aliases_out) < conn.alias_out_max:
                # Recorded only once the packet is known to go out (below).
                new_alias = props["topic_alias"] = len(conn.aliases_out) + 1
        head, tail = _build(encode_str(topic), qos, retain, encode_properties(props), msg.payload)
    else:
        key = (v5, qos, retain)
        cache = msg.cache
        if cache is None:
            cache = msg.cache = {}
        parts = cache.get(key)
        if parts is None:
            props = encode_properties(msg.properties) if v5 else b""
            head, tail = _build(encode_str(msg.topic), qos, retain, props, msg.payload)
            if not qos:
                head, tail = head + tail, b""
            parts = cache[key] = (head, tail)
        head, tail = parts
    if qos:
        data = head + packet_id.to_bytes(2, "big") + tail
    else:
        data = head + tail if tail else head
    if dup:
        data = bytes((data[0] | 0x08,)) + data[1:]
    if conn.max_out_packet and len(data) > conn.max_out_packet:
        return None  # MQTT-3.1.2-25: discarded, as if never sent (no alias spent on it)
    if new_alias:
        conn.aliases_out[msg.topic] = new_alias
    return data
