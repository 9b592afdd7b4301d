"""PUBLISH from a client, and the acknowledgements of both directions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..protocol import reasons
from ..protocol.packets import MQTT5, Puback, Pubcomp, Publish, Pubrec, Pubrel
from ..protocol.publish import ack_packet
from ..protocol.wire import MQTTError, ProtocolError
from .connection import NEEDS_COMMIT, NEEDS_SESSION_COMMIT
from .message import Message
from .topics import valid_topic_name

if TYPE_CHECKING:
    from .connection import Connection
    from .engine import Engine

# Properties that travel with the message to subscribers (the rest are per hop).
_FORWARDED = (
    "payload_format_indicator",
    "content_type",
    "response_topic",
    "correlation_data",
    "user_property",
)


def _resolve_alias(engine: Engine, conn: Connection, p: Publish) -> str:
    alias = p.properties.get("topic_alias")
    topic = p.topic
    if alias is None:
        if not topic:
            raise ProtocolError("empty topic without a topic alias")
        return topic
    if alias == 0 or alias > engine.config.topic_alias_maximum:
        raise MQTTError(f"topic alias {alias} out of range", reasons.TOPIC_ALIAS_INVALID)
    if topic:
        conn.aliases_in[alias] = topic
        return topic
    known = conn.aliases_in.get(alias)
    if known is None:
        raise ProtocolError(f"topic alias {alias} used before it was set")
    return known


def _ack(conn: Connection, p: Publish, code: int, why: str = "") -> None:
    if code and conn.version == MQTT5:
        props = {"reason_string": why} if why and conn.problem_info else {}
        ack = Puback if p.qos == 1 else Pubrec
        conn.send_packet(ack(p.packet_id, code, props))
    else:
        # Accepting (or, before 5.0, silently dropping) the message: sent once it is stored.
        conn.send(ack_packet(4 if p.qos == 1 else 5, p.packet_id), NEEDS_COMMIT)
    if p.qos == 2 and code < 0x80:
        conn.session.incoming_qos2.add(p.packet_id)  # type: ignore[union-attr]
        if conn.engine.store is not None:
            conn.engine.store.incoming_qos2_added(conn.session, p.packet_id)  # type: ignore[arg-type]


def _check_client_properties(props: dict) -> None:
    """Properties a client's PUBLISH may not carry as sent (MQTT 5.0 section 3.3.2.3)."""
    if "subscription_identifier" in props:
        # Subscription Identifiers travel only from server to client (MQTT-3.3.4-6).
        raise ProtocolError("PUBLISH from a client with a subscription identifier")
    response_topic = props.get("response_topic")
    if response_topic is not None and not valid_topic_name(response_topic):
        # The Response Topic is a Topic Name: no wildcards, not empty (MQTT-3.3.2-13/14).
        raise ProtocolError(f"invalid response topic {response_topic!r}")


def handle_publish(engine: Engine, conn: Connection, p: Publish) -> None:
    session = conn.session
    assert session is not None
    v5 = conn.version == MQTT5
    topic = _resolve_alias(engine, conn, p) if v5 else p.topic
    if not valid_topic_name(topic):
        raise MQTTError(f"invalid topic name {topic!r}", reasons.TOPIC_NAME_INVALID)
    if v5 and p.properties:
        _check_client_properties(p.properties)
    qos = p.qos
    stats = engine.stats
    if qos == 2:
        if p.packet_id in session.incoming_qos2:
            # A retransmission of a message already accepted: acknowledge, never route again.
            conn.send(ack_packet(5, p.packet_id), NEEDS_COMMIT)
            return
        if len(session.incoming_qos2) >= engine.config.receive_maximum:
            raise MQTTError("receive maximum exceeded", reasons.RECEIVE_MAXIMUM_EXCEEDED)
    if engine.check_publish and not engine.policy.can_publish(conn.info, topic):
        stats.publish_denied += 1
        engine.log.info("publish to %s by %s denied", topic, conn.info.client_id)
        if qos:
            _ack(conn, p, reasons.NOT_AUTHORIZED if v5 else 0)
        return
    props = p.properties
    expires_at = None
    forwarded = None
    if props:
        if props.get("payload_format_indicator") == 1:
            try:
                p.payload.decode("utf-8")
            except UnicodeDecodeError:
                if qos:
                    _ack(conn, p, reasons.PAYLOAD_FORMAT_INVALID)
                return
        forwarded = {k: props[k] for k in _FORWARDED if k in props}
        interval = props.get("message_expiry_interval")
        if interval is not None:
            expires_at = engine.clock() + interval
    if qos and engine.store_failing:
        # The disk does not take what the store writes: an acknowledgement would promise
        # what is not stored. A 5.0 publisher is told (Quota exceeded: a resource limit
        # that will pass, as for a full queue), a 3.x one waits with its input paused.
        if v5:
            stats.publish_refused += 1
            _ack(conn, p, reasons.QUOTA_EXCEEDED, "message store cannot write to disk")
        else:
            engine.hold(conn, p)
        return
    message = Message(topic, p.payload, qos, p.retain, forwarded, expires_at, session.client_id)
    if not engine.has_room(message):
        # A subscriber's queue is full; acknowledged messages are never dropped, so this
        # one is not taken: a 5.0 publisher is told, a 3.x one waits (reading paused).
        if v5:
            stats.publish_refused += 1
            _ack(conn, p, reasons.QUOTA_EXCEEDED)
        else:
            engine.hold(conn, p)
        return
    matched = engine.route(message)
    stats.messages_received += 1
    if qos:
        _ack(conn, p, reasons.SUCCESS if matched or not v5 else reasons.NO_MATCHING_SUBSCRIBERS)


def handle_pubrel(engine: Engine, conn: Connection, p: Pubrel) -> None:
    incoming = conn.session.incoming_qos2  # type: ignore[union-attr]
    if p.packet_id in incoming:
        incoming.discard(p.packet_id)
        if engine.store is not None:
            engine.store.incoming_qos2_released(conn.session, p.packet_id)  # type: ignore[arg-type]
        conn.send(ack_packet(7, p.packet_id), NEEDS_SESSION_COMMIT)
    else:
        conn.send_packet(Pubcomp(p.packet_id, reasons.PACKET_IDENTIFIER_NOT_FOUND))


def handle_puback(engine: Engine, conn: Connection, p: Puback) -> None:
    session = conn.session
    item = session.outgoing.get(p.packet_id)  # type: ignore[union-attr]
    if item is not None and item.qos == 1:
        del session.outgoing[p.packet_id]  # type: ignore[union-attr]
        if engine.store is not None:
            engine.store.delivery_done(session, item)  # type: ignore[arg-type]
        engine.drain(session)  # type: ignore[arg-type]


def handle_pubrec(engine: Engine, conn: Connection, p: Pubrec) -> None:
    session = conn.session
    assert session is not None
    item = session.outgoing.get(p.packet_id)
    if item is None or item.qos != 2:
        conn.send_packet(Pubrel(p.packet_id, reasons.PACKET_IDENTIFIER_NOT_FOUND))
        return
    if p.reason_code >= 0x80:
        # The receiver refused the message: the exchange ends here.
        del session.outgoing[p.packet_id]
        if engine.store is not None:
            engine.store.delivery_done(session, item)
        engine.drain(session)
        return
    item.released = True
    item.message = None  # type: ignore[assignment]  # the payload is no longer needed
    if engine.store is not None:
        engine.store.delivery_released(session, item)
    conn.send(ack_packet(6, p.packet_id), NEEDS_SESSION_COMMIT)


def handle_pubcomp(engine: Engine, conn: Connection, p: Pubcomp) -> None:
    session = conn.session
    assert session is not None
    item = session.outgoing.get(p.packet_id)
    if item is not None and item.released:
        del session.outgoing[p.packet_id]
        if engine.store is not None:
            engine.store.delivery_done(session, item)
        engine.drain(session)
