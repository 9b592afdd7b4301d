"""Session lifetime: taking over and resuming, a connection's end, session expiry, and
discarding a session.

:class:`Sessions` is part of :class:`~broker.engine.engine.Engine`. Whether a CONNECT may
have a client id's session at all (its owner, the policy) is CONNECT's business:
broker.engine.connect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..protocol import reasons
from .session import NEVER, Session

if TYPE_CHECKING:
    from .connection import Connection
    from .engine import Engine


class Sessions:
    """Session lifetime rules of the engine (mixed into Engine)."""

    def take_session(
        self: Engine, client_id: str, conn: Connection, clean_start: bool
    ) -> tuple[Session, bool]:
        """The session a CONNECT gets, and whether it existed (Session Present).

        Takeover: a connection still using the client id goes first, its will handled as
        for any abnormal end. Without Clean Start an existing session resumes (a will
        waiting for its delay is cancelled); with it, the old session ends.
        """
        old = self.sessions.get(client_id)
        if old is not None and old.connection is not None:
            self.log.info(
                "client %s taken over from %s by %s", client_id, old.connection.peer, conn.peer
            )
            old.connection.disconnect(reasons.SESSION_TAKEN_OVER, "session taken over")
            old = self.sessions.get(client_id)
        if old is not None and not clean_start:
            self.offline.pop(old, None)
            self.cancel_delayed_will(old)
            return old, True
        if old is not None:
            self.end_session(old)
        session = Session(client_id)
        self.sessions[client_id] = session
        return session, False

    def connection_closed(self: Engine, conn: Connection) -> None:
        """Called by the Connection once, whoever ended it."""
        self.connections.discard(conn)
        session = conn.session
        if session is None or session.connection is not conn:
            return
        session.connection = None
        self.stats.client_disconnected(conn.listener)
        now = self.clock()
        will = conn.will
        if will is not None and not conn.clean_exit:
            self.will_on_loss(session, will, now)
        if session.expiry_interval == 0:
            self.end_session(session)
        elif session.expiry_interval != NEVER:
            session.expires_at = now + session.expiry_interval
            self.offline[session] = session.expires_at
        if self.store is not None and session.expiry_interval:
            self.store.session_saved(session)

    def end_session(self: Engine, session: Session) -> None:
        """Discard a session: its subscriptions, queue and in-flight state; send a pending will."""
        self.publish_pending_will(session)
        if self.store is not None:
            self.store.session_ended(session)
        for sub in session.subscriptions.values():
            self.subscriptions.remove(sub)
        session.subscriptions.clear()
        session.outgoing.clear()
        session.queue.clear()
        session.queued_bytes = 0
        self.offline.pop(session, None)
        if session in self.congested:
            self.congested.discard(session)
            self.release_held()
        if self.sessions.get(session.client_id) is session:
            del self.sessions[session.client_id]

    def expire_sessions(self: Engine, now: float) -> None:
        """End the disconnected sessions whose expiry interval has passed."""
        for session in [s for s, t in self.offline.items() if t <= now]:
            self.log.debug("session %s expired", session.client_id)
            self.end_session(session)
