"""SUBSCRIBE and UNSUBSCRIBE: the session's filters, and retained messages on subscribe."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..protocol import reasons
from ..protocol.packets import (
    MQTT5,
    Suback,
    Subscribe,
    SubscriptionOptions,
    Unsuback,
    Unsubscribe,
)
from ..protocol.wire import ProtocolError
from .subscriptions import Subscription
from .topics import split_shared, valid_topic_filter

if TYPE_CHECKING:
    from .connection import Connection
    from .engine import Engine


def _refusal(engine: Engine, conn: Connection, topic_filter: str) -> int:
    """The 5.0 SUBACK code of a denied filter: the policy may say (``subscribe_refusal``),
    else 0x87 Not authorized."""
    return engine.policy.subscribe_refusal(conn.info, topic_filter)


def handle_subscribe(engine: Engine, conn: Connection, p: Subscribe) -> None:
    session = conn.session
    assert session is not None
    v5 = conn.version == MQTT5
    ids = p.properties.get("subscription_identifier")
    identifier = ids[0] if ids else None
    codes: list[int] = []
    retained_to_send: list[tuple[Subscription, bool]] = []
    for topic_filter, options in p.topics:
        try:
            group, plain = split_shared(topic_filter)
        except ValueError:
            codes.append(reasons.TOPIC_FILTER_INVALID if v5 else reasons.V3_SUBACK_FAILURE)
            continue
        if group is not None and options.no_local:
            raise ProtocolError("no local on a shared subscription")
        if not valid_topic_filter(plain):
            codes.append(reasons.TOPIC_FILTER_INVALID if v5 else reasons.V3_SUBACK_FAILURE)
            continue
        if not engine.policy.can_subscribe(conn.info, topic_filter):
            engine.log.info("subscription to %s by %s denied", topic_filter, conn.info.client_id)
            engine.stats.subscribe_denied += 1
            codes.append(_refusal(engine, conn, topic_filter) if v5 else reasons.V3_SUBACK_FAILURE)
            continue
        if conn.bridge and group is None:
            # A 3.x bridge cannot say no-local and retain-as-published; its bit asks for both.
            options = SubscriptionOptions(options.qos, True, True, options.retain_handling)
        sub = Subscription(session, topic_filter, options, identifier)
        existed = engine.subscriptions.add(sub) is not None
        session.subscriptions[topic_filter] = sub
        if engine.store is not None:
            engine.store.subscription_added(session, sub)
        codes.append(options.qos)
        if group is None and (
            options.retain_handling == 0 or (options.retain_handling == 1 and not existed)
        ):
            retained_to_send.append((sub, existed))
    conn.send_packet(Suback(p.packet_id, codes))
    for sub, _ in retained_to_send:
        engine.send_retained(session, sub)


def handle_unsubscribe(engine: Engine, conn: Connection, p: Unsubscribe) -> None:
    session = conn.session
    assert session is not None
    codes = []
    for topic_filter in p.topics:
        sub = session.subscriptions.pop(topic_filter, None)
        if sub is not None and engine.subscriptions.remove(sub):
            codes.append(reasons.SUCCESS)
            if engine.store is not None:
                engine.store.subscription_removed(session, topic_filter)
        else:
            codes.append(reasons.NO_SUBSCRIPTION_EXISTED)
    conn.send_packet(Unsuback(p.packet_id, codes))
