"""The way to a subscriber: send now, queue, the in-flight window, back-pressure.

:class:`Delivery` is part of :class:`~broker.engine.engine.Engine`. A message for a session
is sent at once when its connection has room (QoS 1/2: fewer in flight than its Receive
Maximum), else queued in the session; ``drain`` sends from the queue as acknowledgements
come back and the transport drains. A queue at its limit makes its session *congested*:
QoS 1/2 publishers towards it are refused (5.0) or held with their input paused (3.x,
``hold``) until half of it has gone (``release_held``). ``resend`` repeats what was in
flight when a session resumes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..protocol.packets import Pubrel
from .connection import NEEDS_COMMIT, Connection
from .delivery import publish_bytes
from .message import Message
from .session import Outgoing, Session

if TYPE_CHECKING:
    from .engine import Engine


class Delivery:
    """Queueing and in-flight rules of the engine (mixed into Engine)."""

    def hold(self: Engine, conn: Connection, packet: Any) -> None:
        """Back-pressure on a 3.x publisher: keep its PUBLISH, stop reading until there is room."""
        conn.hold(packet)
        held = self.held
        if len(held) >= 64:
            # A long outage of the store: publishers time out and come back while held.
            held[:] = [c for c in held if not c.closed]
        held.append(conn)

    def release_held(self: Engine) -> None:
        """Queue room appeared or the store works again: retry every held publisher (each
        may be held again)."""
        if not self.held:
            return
        held, self.held = self.held, []
        for conn in held:
            if not conn.closed:
                conn.release()

    def deliver(
        self: Engine, session: Session, msg: Message, qos: int, retain: bool, ids: tuple[int, ...]
    ) -> None:
        """Hand one message to one session: send it now, or queue it."""
        callback = session.callback
        if callback is not None:
            if qos != msg.qos or retain != msg.retain:
                msg = msg.copy(qos=qos, retain=retain)
            callback(msg)
            return
        conn = session.connection
        if qos == 0:
            if conn is None:
                return  # QoS 0 is not queued for offline sessions
            if conn.paused or session.queue:
                self._enqueue(session, Outgoing(msg, 0, retain, ids))
                return
            data = publish_bytes(conn, msg, 0, retain, ids, 0, False, self.clock())
            if data is not None:
                self.stats.messages_sent += 1
                conn.send(data)
            return
        item = Outgoing(msg, qos, retain, ids)
        if self.store is not None:
            self.store.delivery_added(session, item)
        if conn is None or conn.paused or session.queue or len(session.outgoing) >= conn.send_quota:
            self._enqueue(session, item)
            return
        self._send_new(session, conn, item)

    def _send_new(self: Engine, session: Session, conn: Connection, item: Outgoing) -> None:
        data = None
        if item.qos:
            packet_id = session.next_packet_id()
            data = publish_bytes(
                conn,
                item.message,
                item.qos,
                item.retain,
                item.sub_ids,
                packet_id,
                False,
                self.clock(),
            )
            if data is not None:
                session.outgoing[packet_id] = item
                if self.store is not None:
                    self.store.delivery_sent(session, item, packet_id)
        else:
            data = publish_bytes(
                conn, item.message, 0, item.retain, item.sub_ids, 0, False, self.clock()
            )
        if data is not None:
            self.stats.messages_sent += 1
            # QoS 2 is delivered once only, even across a crash: its PUBLISH waits for the
            # commit that records it as sent.
            conn.send(data, NEEDS_COMMIT if item.qos == 2 else 0)

    def _enqueue(self: Engine, session: Session, item: Outgoing) -> None:
        config = self.config
        size = len(item.message.payload)
        if item.qos == 0 and (
            len(session.queue) >= config.max_queued_messages
            or session.queued_bytes + size > config.max_queued_bytes
        ):
            session.dropped += 1
            self.stats.publish_dropped += 1
            return
        session.queue.append(item)
        session.queued_bytes += size
        if (
            len(session.queue) >= config.max_queued_messages
            or session.queued_bytes >= config.max_queued_bytes
        ):
            if session not in self.congested:
                self.congested.add(session)
                self.log.warning(
                    "client %s: queue full (%d messages, %d bytes)",
                    session.client_id,
                    len(session.queue),
                    session.queued_bytes,
                )

    def drain(self: Engine, session: Session) -> None:
        """Send queued messages while the connection has room in its window."""
        conn = session.connection
        queue = session.queue
        if conn is None or conn.closed:
            return
        while queue and not conn.paused:
            item = queue[0]
            if item.qos and len(session.outgoing) >= conn.send_quota:
                return
            queue.popleft()
            session.queued_bytes -= len(item.message.payload)
            if self._check_read and self._unreadable(session, item):
                continue
            self._send_new(session, conn, item)
        if session in self.congested:
            config = self.config
            # Hysteresis: resume publishers only once half the queue has gone.
            if (
                len(queue) <= config.max_queued_messages // 2
                and session.queued_bytes <= config.max_queued_bytes // 2
            ):
                self.congested.discard(session)
                self.release_held()

    def resend(self: Engine, session: Session) -> None:
        """On session resume: in-flight messages again, in order, PUBLISH with DUP set."""
        conn = session.connection
        assert conn is not None
        now = self.clock()
        for packet_id, item in list(session.outgoing.items()):
            if item.released:
                conn.send_packet(Pubrel(packet_id))
                continue
            if self._check_read and self._unreadable(session, item):
                del session.outgoing[packet_id]
                continue
            data = publish_bytes(
                conn, item.message, item.qos, item.retain, item.sub_ids, packet_id, True, now
            )
            if data is None:
                del session.outgoing[packet_id]
                if self.store is not None:
                    self.store.delivery_done(session, item)
            else:
                conn.send(data, NEEDS_COMMIT if item.qos == 2 else 0)
