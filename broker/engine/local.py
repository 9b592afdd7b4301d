"""The in-process API: publish and subscribe from inside the broker's process.

:class:`LocalApi` is part of :class:`~broker.engine.engine.Engine` (the server's
``Broker.publish``/``Broker.subscribe`` call it). In-process publishers go through the same
router as network clients. A publisher may name an ``origin``: the message carries it, so
an in-process subscriber can tell its own messages apart (a bridge does not send back
upstream what it received from there), as MQTT 5.0's no-local does for a client id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..protocol.packets import SubscriptionOptions
from .message import Message
from .session import LocalSession
from .subscriptions import Subscription
from .topics import valid_topic_filter, valid_topic_name

if TYPE_CHECKING:
    from .engine import Engine


class LocalSubscription:
    """Handle returned by :meth:`Engine.subscribe_local`."""

    def __init__(self, engine: Engine, session: LocalSession, sub: Subscription) -> None:
        self._engine = engine
        self._session = session
        self._sub = sub

    def cancel(self) -> None:
        """Stop receiving messages."""
        if self._engine.subscriptions.remove(self._sub):
            self._engine.sessions.pop(self._session.client_id, None)


class LocalApi:
    """The in-process API of the engine (mixed into Engine)."""

    def publish(
        self: Engine,
        topic: str,
        payload: bytes | str,
        qos: int = 0,
        retain: bool = False,
        properties: dict | None = None,
        origin: str | None = None,
    ) -> int:
        """Publish from inside the process, through the same router as network clients;
        ``origin`` names the publisher (Message.origin), None for the broker itself."""
        if not valid_topic_name(topic):
            raise ValueError(f"invalid topic name {topic!r}")
        if qos not in (0, 1, 2):
            raise ValueError(f"invalid QoS {qos}")
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        props = dict(properties or {})
        interval = props.pop("message_expiry_interval", None)
        expires_at = self.clock() + interval if interval is not None else None
        self.stats.messages_received += 1
        return self.route(
            Message(topic, bytes(payload), qos, retain, props, expires_at, origin)
        )

    def subscribe_local(
        self: Engine, topic_filter: str, callback: Callable[[Message], None], qos: int = 0
    ) -> LocalSubscription:
        """Call ``callback`` for every message matching ``topic_filter`` (retained first)."""
        if not valid_topic_filter(topic_filter):
            raise ValueError(f"invalid topic filter {topic_filter!r}")
        self._local_ids += 1
        session = LocalSession(f"$local-{self._local_ids}", callback)
        self.sessions[session.client_id] = session
        sub = Subscription(session, topic_filter, SubscriptionOptions(qos=qos))
        self.subscriptions.add(sub)
        session.subscriptions[topic_filter] = sub
        if sub.group is None:
            self.send_retained(session, sub)
        return LocalSubscription(self, session, sub)
