"""The narrow interface through which the engine reports durable state changes.

``Engine.store`` is None (nothing stored, nothing called) or an object with these methods;
broker.store.journal.Journal is the implementation. Calls are synchronous, cheap and must
not do I/O: the I/O shell commits what they note once per loop turn, before it sends the
acknowledgements produced in the same turn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .message import Message
    from .session import Outgoing, Session
    from .subscriptions import Subscription


class StoreHooks(Protocol):
    def delivery_added(self, session: Session, item: Outgoing) -> None:
        """A QoS 1/2 message was queued for, or sent to, ``session``."""

    def delivery_sent(self, session: Session, item: Outgoing, packet_id: int) -> None:
        """``item`` was sent with ``packet_id`` (it is now in ``session.outgoing``)."""

    def delivery_released(self, session: Session, item: Outgoing) -> None:
        """QoS 2 towards the client: PUBREC received, PUBREL sent."""

    def delivery_done(self, session: Session, item: Outgoing) -> None:
        """The delivery ended: PUBACK, PUBCOMP, a refusing PUBREC, or expiry."""

    def incoming_qos2_added(self, session: Session, packet_id: int) -> None:
        """QoS 2 from the client: PUBREC is about to be sent for ``packet_id``."""

    def incoming_qos2_released(self, session: Session, packet_id: int) -> None:
        """QoS 2 from the client: PUBREL arrived for ``packet_id``."""

    def session_saved(self, session: Session) -> None:
        """The session started or resumed, went offline, or its delayed will changed."""

    def session_ended(self, session: Session) -> None:
        """The session is discarded (called before its queues are cleared)."""

    def subscription_added(self, session: Session, sub: Subscription) -> None:
        """A SUBSCRIBE added or replaced ``sub``."""

    def subscription_removed(self, session: Session, topic_filter: str) -> None:
        """An UNSUBSCRIBE removed ``topic_filter``."""

    def retained_set(self, msg: Message) -> None:
        """A retained message was stored (an empty payload clears its topic)."""
