"""Wills: the message a client leaves for its abnormal end, sent at once or delayed.

:class:`Wills` is part of :class:`~broker.engine.engine.Engine`. A 5.0 will with a Will
Delay Interval waits (``delayed_wills``) until the delay or the session's end, whichever
comes first; a client that resumes its session in time cancels it (broker.engine.connect).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..protocol.packets import Will
from .message import Message
from .session import Session

if TYPE_CHECKING:
    from .engine import Engine


class Wills:
    """Will rules of the engine (mixed into Engine)."""

    def will_on_loss(self: Engine, session: Session, will: Will, now: float) -> None:
        """The connection of ``session`` ended without DISCONNECT: publish its will now, or
        keep it until its delay has passed."""
        delay = will.properties.get("will_delay_interval", 0)
        if delay and session.expiry_interval:
            session.will = will
            session.will_at = now + min(delay, session.expiry_interval)
            self.delayed_wills.add(session)
        else:
            self.publish_will(session, will)

    def cancel_delayed_will(self: Engine, session: Session) -> None:
        """A resumed session cancels a will that was waiting for its delay."""
        session.will_at = None
        session.will = None
        self.delayed_wills.discard(session)

    def publish_pending_will(self: Engine, session: Session) -> None:
        """The session ends: a will still waiting for its delay goes out now."""
        if session.will_at is not None and session.will is not None:
            will = session.will
            session.will = session.will_at = None
            self.delayed_wills.discard(session)
            self.publish_will(session, will)

    def publish_due_wills(self: Engine, now: float) -> None:
        """Delayed wills whose time has come."""
        for session in [
            s for s in self.delayed_wills if s.will_at is not None and s.will_at <= now
        ]:
            self.delayed_wills.discard(session)
            will = session.will
            session.will = session.will_at = None
            if will is not None:
                self.publish_will(session, will)
            if self.store is not None:
                self.store.session_saved(session)

    def publish_will(self: Engine, session: Session, will: Will) -> None:
        """Route ``session``'s will as a message from that client (its properties minus the
        will-only ones; its expiry counted from now)."""
        props = {
            k: v
            for k, v in will.properties.items()
            if k not in ("will_delay_interval", "message_expiry_interval")
        }
        expiry = will.properties.get("message_expiry_interval")
        expires_at = self.clock() + expiry if expiry is not None else None
        self.log.debug("publishing will of %s on %s", session.client_id, will.topic)
        self.route(
            Message(
                will.topic,
                will.payload,
                will.qos,
                will.retain,
                props,
                expires_at,
                session.client_id,
            )
        )
