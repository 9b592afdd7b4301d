"""Outgoing PUBLISH: encoded once per variant, written to every subscriber that takes it.

The bytes come from the codec (:func:`broker.protocol.publish.publish_parts`); this module
decides which variant a connection gets (version, QoS, retain, topic alias, remaining
expiry, subscription identifiers) and caches the shared ones on the message.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..protocol.packets import MQTT5
from ..protocol.publish import publish_packet, publish_parts
from .message import Message

if TYPE_CHECKING:
    from .connection import Connection


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
        head, tail = publish_parts(topic, qos, retain, msg.payload, MQTT5, props)
    else:
        key = (v5, qos, retain)
        cache = msg.cache
        if cache is None:
            cache = msg.cache = {}
        parts = cache.get(key)
        if parts is None:
            parts = cache[key] = publish_parts(
                msg.topic, qos, retain, msg.payload, conn.version, msg.properties
            )
        head, tail = parts
    # QoS 0: ``head`` is the whole packet (never DUP).
    data = publish_packet(head, tail, packet_id, dup) if qos else head
    if conn.max_out_packet and len(data) > conn.max_out_packet:
        return None  # MQTT-3.1.2-25: discarded, as if never sent (no alias spent on it)
    if new_alias:
        conn.aliases_out[msg.topic] = new_alias
    return data
