"""Routing: which sessions get a message, at which QoS, with which identifiers.

:class:`Routing` is part of :class:`~broker.engine.engine.Engine`: ``route`` matches a
message against the subscription trie (no-local, overlapping subscriptions, shared groups,
the reader's ACL) and hands each taker to ``deliver`` (broker.engine.queue).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .message import Message
from .session import Outgoing, Session

if TYPE_CHECKING:
    from .engine import Engine


class Routing:
    """Routing rules of the engine (mixed into Engine)."""

    def route(self: Engine, msg: Message) -> int:
        """Deliver ``msg`` to every matching subscription; returns how many sessions took it.

        Everything routed is delivered or queued: a network publisher that a full queue
        should push back on is stopped before this (see ``has_room``).
        """
        if msg.retain:
            self.retained.set(msg)
            if self.store is not None:
                self.store.retained_set(msg)
        per_session, groups = self.subscriptions.match(msg.topic)
        delivered = 0
        check_read = self._check_read
        origin = msg.origin
        for session, subs in per_session.items():
            if len(subs) == 1:
                sub = subs[0]
                o = sub.options
                if o.no_local and origin == session.client_id:
                    continue
                qos = o.qos if o.qos < msg.qos else msg.qos
                retain = msg.retain and o.retain_as_published
                ids: tuple[int, ...] = (sub.identifier,) if sub.identifier else ()
            else:
                # Overlapping subscriptions: one message at the highest QoS, all identifiers.
                qos = -1
                retain = False
                id_list = []
                for sub in subs:
                    o = sub.options
                    if o.no_local and origin == session.client_id:
                        continue
                    if o.qos > qos:
                        qos = o.qos
                    retain = retain or (msg.retain and o.retain_as_published)
                    if sub.identifier:
                        id_list.append(sub.identifier)
                if qos < 0:
                    continue
                qos = min(qos, msg.qos)
                ids = tuple(sorted(id_list))
            if check_read and not self.may_read(session, msg.topic):
                continue
            self.deliver(session, msg, qos, retain, ids)
            delivered += 1
        for group in groups:
            sub = group.pick()
            if sub is None:
                continue
            session = sub.session
            if check_read and not self.may_read(session, msg.topic):
                continue
            o = sub.options
            self.deliver(
                session,
                msg,
                min(o.qos, msg.qos),
                msg.retain and o.retain_as_published,
                (sub.identifier,) if sub.identifier else (),
            )
            delivered += 1
        return delivered

    def may_read(self: Engine, session: Session, topic: str) -> bool:
        """Whether the user ``session`` belongs to may receive a message on ``topic``."""
        if not self._check_read:
            return True
        info = session.info
        if info is None:
            return session.trusted  # in-process: yes; a session with no known user: no
        return self._policy.can_read(info, topic)

    def _unreadable(self: Engine, session: Session, item: Outgoing) -> bool:
        """A queued or in-flight message its session's user may no longer read (the session
        was resumed by another connection of that user, restored, or the ACL reloaded):
        forgotten, never sent."""
        msg = item.message
        if msg is None or self.may_read(session, msg.topic):
            return False
        self.log.debug("client %s may not read %s: dropped", session.client_id, msg.topic)
        if item.qos and self.store is not None:
            self.store.delivery_done(session, item)
        return True

    def has_room(self: Engine, msg: Message) -> bool:
        """False when a QoS 1/2 ``msg`` would have to queue for a congested session."""
        if not (self.congested and msg.qos):
            return True
        per_session, groups = self.subscriptions.match(msg.topic)
        congested = self.congested
        for session, subs in per_session.items():
            if session in congested and any(sub.options.qos for sub in subs):
                return False
        for group in groups:
            members = group.members
            if members and all(s in congested and sub.options.qos for s, sub in members.items()):
                return False
        return True
