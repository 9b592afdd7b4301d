"""The engine's store hooks: state changes noted in memory, turned into one batch per commit.

The engine calls these methods (as ``engine.store``) at the moments its durable state
changes. Nothing here touches the disk: :meth:`Journal.take` hands the accumulated
changes to the writer as one batch of SQL statements. A message delivered and acknowledged
within the same batch never reaches the disk at all.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain
from typing import TYPE_CHECKING

from . import sqlite as sql
from .records import (
    Clocks,
    expiry_columns,
    ids_text,
    message_columns,
    options_byte,
    owner_columns,
    will_columns,
)

if TYPE_CHECKING:
    from ..engine.message import Message
    from ..engine.session import Outgoing, Session
    from ..engine.subscriptions import Subscription


class _Insert:
    """A delivery row not yet handed to the writer; its columns are read when taken."""

    __slots__ = ("item", "client_id", "seq", "packet_id")

    def __init__(self, item: Outgoing, client_id: str, seq: int) -> None:
        self.item: Outgoing | None = item
        self.client_id = client_id
        self.seq = seq
        self.packet_id: int | None = None


class Journal:
    """Pending store changes, in the order the engine made them.

    ``full`` is False in the low-wear mode: then only sessions, subscriptions and retained
    messages are kept, and message deliveries are not journaled at all.
    """

    def __init__(self, clocks: Clocks, full: bool = True) -> None:
        self.clocks = clocks
        self.full = full
        #: Called as changes arrive; the argument says which kind ("retained" or "state"),
        #: so the committer can decide how soon they must reach the disk.
        self.wake: Callable[[str], None] | None = None
        self._ops: list[_Insert | tuple[str, tuple]] = []
        self._retained: dict[str, Message] = {}
        #: Delivery rows on disk or pending, by the engine's Outgoing object.
        self.seqs: dict[Outgoing, int] = {}
        self._fresh: dict[Outgoing, _Insert] = {}
        #: Client ids with a session row.
        self.persisted: set[str] = set()
        self.next_seq = 1
        #: _Insert ops whose delivery ended before they were taken (they write nothing).
        self._dead = 0

    def _add(self, op: _Insert | tuple[str, tuple]) -> None:
        if not self._ops and self.wake is not None:
            self.wake("state")
        self._ops.append(op)

    @property
    def pending(self) -> bool:
        """Whether there is anything to commit."""
        return bool(self._ops or self._retained)

    @property
    def state_pending(self) -> bool:
        """Whether changes other than retained messages wait to be committed."""
        return bool(self._ops)

    # --- messages towards a session --------------------------------------------------

    def delivery_added(self, session: Session, item: Outgoing) -> None:
        """A QoS 1/2 message was queued for, or sent to, ``session``."""
        if not self.full or not session.expiry_interval:
            return
        seq = self.next_seq
        self.next_seq = seq + 1
        self.seqs[item] = seq
        op = self._fresh[item] = _Insert(item, session.client_id, seq)
        self._add(op)

    def delivery_sent(self, session: Session, item: Outgoing, packet_id: int) -> None:
        """``item`` went out with ``packet_id`` (it must be resent with the same one)."""
        seq = self.seqs.get(item)
        if seq is None:
            return
        fresh = self._fresh.get(item)
        if fresh is not None:
            fresh.packet_id = packet_id
        else:
            self._add((sql.SET_PACKET_ID, (packet_id, seq)))

    def delivery_released(self, session: Session, item: Outgoing) -> None:
        """QoS 2: PUBREC arrived, PUBREL sent; the payload is no longer needed."""
        seq = self.seqs.get(item)
        if seq is not None and item not in self._fresh:
            self._add((sql.SET_RELEASED, (seq,)))

    def delivery_done(self, session: Session, item: Outgoing) -> None:
        """The delivery is complete (PUBACK, PUBCOMP, refused, or expired)."""
        seq = self.seqs.pop(item, None)
        if seq is None:
            return
        fresh = self._fresh.pop(item, None)
        if fresh is not None:
            fresh.item = None  # never written: nothing to delete either
            self._dead += 1
            if self._dead > 1024 and self._dead * 2 > len(self._ops):
                # Nothing is taken while the disk refuses commits: messages delivered and
                # acknowledged meanwhile must not pile up here for the length of the outage.
                self._ops = [
                    op for op in self._ops if type(op) is not _Insert or op.item is not None
                ]
                self._dead = 0
        else:
            self._add((sql.DELETE_DELIVERY, (seq,)))

    # --- QoS 2 from a client ----------------------------------------------------------

    def incoming_qos2_added(self, session: Session, packet_id: int) -> None:
        """PUBREC sent for ``packet_id``: a resent PUBLISH with it must not be routed again."""
        if self.full and session.expiry_interval:
            self._add((sql.INSERT_INCOMING, (session.client_id, packet_id)))

    def incoming_qos2_released(self, session: Session, packet_id: int) -> None:
        """PUBREL arrived for ``packet_id``."""
        if self.full and session.client_id in self.persisted:
            self._add((sql.DELETE_INCOMING, (session.client_id, packet_id)))

    # --- sessions and subscriptions -----------------------------------------------------

    def session_saved(self, session: Session) -> None:
        """The session's expiry, expiry time or delayed will changed (or it was created)."""
        if not session.expiry_interval:
            self.session_ended(session)
            return
        clocks = self.clocks
        self.persisted.add(session.client_id)
        row = (
            session.client_id,
            session.expiry_interval,
            clocks.to_wall(session.expires_at),
            *will_columns(session.will),
            clocks.to_wall(session.will_at),
            *owner_columns(session.info),
        )
        self._add((sql.UPSERT_SESSION, row))

    def session_ended(self, session: Session) -> None:
        """The session is discarded (call before its queues are cleared)."""
        client_id = session.client_id
        if client_id not in self.persisted:
            return
        self.persisted.discard(client_id)
        for item in chain(session.outgoing.values(), session.queue):
            self.delivery_done(session, item)
        for statement in (sql.DELETE_SESSION, sql.DELETE_SESSION_SUBS, sql.DELETE_SESSION_INCOMING):
            self._add((statement, (client_id,)))

    def subscription_added(self, session: Session, sub: Subscription) -> None:
        """A SUBSCRIBE added or replaced ``sub``."""
        if session.expiry_interval:
            row = (session.client_id, sub.topic_filter, options_byte(sub.options), sub.identifier)
            self._add((sql.UPSERT_SUBSCRIPTION, row))

    def subscription_removed(self, session: Session, topic_filter: str) -> None:
        """An UNSUBSCRIBE removed the session's ``topic_filter``."""
        if session.client_id in self.persisted:
            self._add((sql.DELETE_SUBSCRIPTION, (session.client_id, topic_filter)))

    # --- retained messages ----------------------------------------------------------------

    def retained_set(self, msg: Message) -> None:
        """A retained message was stored (an empty payload clears the topic)."""
        if msg.topic.startswith("$SYS/"):
            return  # rebuilt by the broker itself after a restart
        if not self._retained and self.wake is not None:
            self.wake("retained")
        self._retained[msg.topic] = msg  # several updates of one topic: only the last is written

    # --- the writer's side ----------------------------------------------------------------

    def take(self, retained: bool = True) -> sql.Batch:
        """Everything journaled so far as one batch of statements; the journal is emptied.

        ``retained`` False leaves retained messages for a later batch.
        """
        batch: sql.Batch = []
        last_sql = ""
        rows: list[tuple] = []
        for op in self._ops:
            if type(op) is _Insert:
                item = op.item
                if item is None:
                    continue
                statement = sql.INSERT_DELIVERY
                row = self._delivery_row(op, item)
            else:
                statement, row = op  # type: ignore[misc]
            if statement is not last_sql:
                rows = []
                batch.append((statement, rows))
                last_sql = statement
            rows.append(row)
        self._ops = []
        self._fresh = {}
        self._dead = 0
        if retained and self._retained:
            upserts = []
            deletes = []
            for topic, msg in self._retained.items():
                if msg.payload:
                    props, expires = expiry_columns(msg, self.clocks)
                    upserts.append((topic, msg.payload, msg.qos, props, expires))
                else:
                    deletes.append((topic,))
            batch.append((sql.UPSERT_RETAINED, upserts))
            batch.append((sql.DELETE_RETAINED, deletes))
            self._retained = {}
        return batch

    def _delivery_row(self, op: _Insert, item: Outgoing) -> tuple:
        msg = item.message
        if msg is None:  # QoS 2 already released: only the packet id matters now
            topic = payload = props = expires = None
        else:
            topic, payload, props, expires = message_columns(msg, self.clocks)
        return (
            op.seq,
            op.client_id,
            op.packet_id,
            int(item.released),
            item.qos,
            int(item.retain),
            ids_text(item.sub_ids),
            topic,
            payload,
            props,
            expires,
        )
