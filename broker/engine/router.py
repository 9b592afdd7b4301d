"""The engine: sessions, routing, retained messages, wills and timers. No I/O.

The server shell creates a :class:`Connection` per transport with :meth:`Engine.connect`,
calls :meth:`Engine.tick` about once a second, and flushes connections' output.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from .. import __version__
from ..config import BrokerConfig
from ..protocol.packets import Pubrel, SubscriptionOptions, Will
from . import connect, publish, subscribe
from .addresses import peer_host
from .admission import Admission, Ticket
from .connection import Connection
from .delivery import publish_bytes
from .message import Message
from .policy import AllowAll, DenySubscriptions, Policy
from .retained import RetainedStore
from .session import NEVER, LocalSession, Outgoing, Session
from .stats import Stats
from .storehooks import StoreHooks
from .subscriptions import Subscription, SubscriptionTree
from .topics import valid_topic_filter, valid_topic_name

log = logging.getLogger("broker")

SYS_PREFIX = "$SYS/broker/"


def default_policy(config: BrokerConfig, listeners: Policy | None = None) -> Policy:
    """The configured policy object, else ``listeners`` (the server's per-listener rules),
    else allow-all; with the configured denied subscriptions on top."""
    policy = config.policy if config.policy is not None else listeners or AllowAll()
    if config.deny_subscribe:
        policy = DenySubscriptions(config.deny_subscribe, policy)
    return policy


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


class Engine:
    """All broker state and the rules that change it."""

    def __init__(
        self, config: BrokerConfig | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config or BrokerConfig()
        self.clock = clock
        self.log = log
        self.policy: Policy = default_policy(self.config)
        self.sessions: dict[str, Session] = {}
        self.subscriptions = SubscriptionTree()
        self.retained = RetainedStore()
        self.stats = Stats()
        self.stats.started_at = clock()
        self.connections: set[Connection] = set()
        #: Disconnected sessions that expire, with their expiry time.
        self.offline: dict[Session, float] = {}
        self.delayed_wills: set[Session] = set()
        #: Durable-state hooks (broker.store); None keeps everything in memory only.
        self.store: StoreHooks | None = None
        #: Sessions whose queue reached a limit: QoS 1/2 for them is refused or held.
        self.congested: set[Session] = set()
        #: 3.x publishers whose message waits for queue room or for the store to work again
        #: (ack withheld, reading paused).
        self.held: list[Connection] = []
        #: The store cannot commit (a full or broken disk): QoS 1/2 from the network is
        #: refused (5.0) or held (3.x) until it can, since an acknowledgement promises it.
        self.store_failing = False
        self._local_ids = 0
        self.admission = Admission(self.config, clock, log)
        self.handlers: dict[int, Callable[[Engine, Connection, Any], None]] = {
            1: connect.handle_connect,
            3: publish.handle_publish,
            4: publish.handle_puback,
            5: publish.handle_pubrec,
            6: publish.handle_pubrel,
            7: publish.handle_pubcomp,
            8: subscribe.handle_subscribe,
            10: subscribe.handle_unsubscribe,
            12: connect.handle_pingreq,
            14: connect.handle_disconnect,
            15: connect.handle_auth,
        }
        for ptype in (2, 9, 11, 13):
            self.handlers[ptype] = _server_only

    @property
    def policy(self) -> Policy:
        return self._policy

    @policy.setter
    def policy(self, value: Policy) -> None:
        self._policy = value
        # Checks that cannot fail cost nothing on the hot path: they are skipped.
        self._check_read = getattr(value, "restricts_read", True)
        self.check_publish = getattr(value, "restricts_publish", True)

    # --- connections -----------------------------------------------------------------

    def admit(self, peer: str) -> Ticket | None:
        """A TCP connection was accepted from ``peer``: its ticket, or None to close it at
        once (over its address's connection rate or cap; see broker.engine.admission)."""
        ticket = self.admission.admit(peer)
        if ticket is None:
            self.stats.connections_refused += 1
        return ticket

    def connect(
        self, peer: str = "", listener: str = "default", ticket: Ticket | None = None
    ) -> Connection:
        """A new transport: the returned Connection takes its bytes.

        ``ticket``: from :meth:`admit` at TCP accept (its connect_timeout counts from then);
        without one the connection is admitted now. A refused Connection comes back closed.
        """
        conn = Connection(self, peer, listener)
        if ticket is None:
            ticket = self.admit(peer)
            if ticket is None:
                conn.closed = True
                return conn
        ticket.conn = conn
        conn.created = ticket.accepted_at
        self.connections.add(conn)
        return conn

    def connection_closed(self, conn: Connection) -> None:
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
            delay = will.properties.get("will_delay_interval", 0)
            if delay and session.expiry_interval:
                session.will = will
                session.will_at = now + min(delay, session.expiry_interval)
                self.delayed_wills.add(session)
            else:
                self.publish_will(session, will)
        if session.expiry_interval == 0:
            self.end_session(session)
        elif session.expiry_interval != NEVER:
            session.expires_at = now + session.expiry_interval
            self.offline[session] = session.expires_at
        if self.store is not None and session.expiry_interval:
            self.store.session_saved(session)

    def end_session(self, session: Session) -> None:
        """Discard a session: its subscriptions, queue and in-flight state; send a pending will."""
        if session.will_at is not None and session.will is not None:
            will = session.will
            session.will = session.will_at = None
            self.delayed_wills.discard(session)
            self.publish_will(session, will)
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

    def publish_will(self, session: Session, will: Will) -> None:
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

    # --- routing ---------------------------------------------------------------------

    def route(self, msg: Message) -> int:
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

    def may_read(self, session: Session, topic: str) -> bool:
        """Whether the user ``session`` belongs to may receive a message on ``topic``."""
        if not self._check_read:
            return True
        info = session.info
        if info is None:
            return session.trusted  # in-process: yes; a session with no known user: no
        return self._policy.can_read(info, topic)

    def _unreadable(self, session: Session, item: Outgoing) -> bool:
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

    def has_room(self, msg: Message) -> bool:
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

    def hold(self, conn: Connection, packet: Any) -> None:
        """Back-pressure on a 3.x publisher: keep its PUBLISH, stop reading until there is room."""
        conn.hold(packet)
        held = self.held
        if len(held) >= 64:
            # A long outage of the store: publishers time out and come back while held.
            held[:] = [c for c in held if not c.closed]
        held.append(conn)

    def release_held(self) -> None:
        """Queue room appeared or the store works again: retry every held publisher (each
        may be held again)."""
        if not self.held:
            return
        held, self.held = self.held, []
        for conn in held:
            if not conn.closed:
                conn.release()

    def deliver(
        self, session: Session, msg: Message, qos: int, retain: bool, ids: tuple[int, ...]
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

    def _send_new(self, session: Session, conn: Connection, item: Outgoing) -> None:
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
            conn.send(data)

    def _enqueue(self, session: Session, item: Outgoing) -> None:
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

    def drain(self, session: Session) -> None:
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

    def resend(self, session: Session) -> None:
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
                conn.send(data)

    def send_retained(self, session: Session, sub: Subscription) -> None:
        """Retained messages matching a new subscription, flagged retained."""
        ids = (sub.identifier,) if sub.identifier else ()
        now = self.clock()
        for msg in list(self.retained.match(sub.filter_levels)):
            if msg.expires_at is not None and msg.expires_at <= now:
                continue
            if not self.may_read(session, msg.topic):
                continue
            self.deliver(session, msg, min(sub.options.qos, msg.qos), True, ids)

    # --- in-process API ----------------------------------------------------------------

    def publish(
        self,
        topic: str,
        payload: bytes | str,
        qos: int = 0,
        retain: bool = False,
        properties: dict | None = None,
    ) -> int:
        """Publish from inside the process, through the same router as network clients."""
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
        return self.route(Message(topic, bytes(payload), qos, retain, props, expires_at, None))

    def subscribe_local(
        self, topic_filter: str, callback: Callable[[Message], None], qos: int = 0
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

    # --- time --------------------------------------------------------------------------

    def tick(self) -> None:
        """Timers: keepalive, CONNECT timeout, delayed wills, session expiry."""
        now = self.clock()
        connect_timeout = self.config.connect_timeout
        for conn in list(self.connections):
            if conn.closed:
                continue
            if conn.held is not None:
                continue  # we stopped reading it: its silence is ours
            if conn.session is None:
                if now - conn.created > connect_timeout:
                    self.admission.expired(peer_host(conn.peer))
                    conn.close()
            elif conn.keepalive and now - conn.last_rx > conn.keepalive * 1.5:
                self.log.info("client %s keepalive expired", conn.info.client_id)
                conn.disconnect(0x8D, "keep alive timeout")
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
        self.admission.tick()
        for session in [s for s, t in self.offline.items() if t <= now]:
            self.log.debug("session %s expired", session.client_id)
            self.end_session(session)

    def sys_messages(self) -> list[tuple[str, str]]:
        """The $SYS/broker/... topics and their current values."""
        s = self.stats
        uptime = int(self.clock() - s.started_at)
        persistent = sum(1 for x in self.sessions.values() if not isinstance(x, LocalSession))
        values = {
            "version": f"sensor-gateway broker {__version__}",
            "uptime": f"{uptime} seconds",
            "clients/connected": s.clients_connected,
            "clients/total": persistent,
            "clients/disconnected": persistent - s.clients_connected,
            "clients/maximum": s.clients_maximum,
            "connections/total": s.connections_total,
            "messages/received": s.messages_received,
            "messages/sent": s.messages_sent,
            "bytes/received": s.bytes_received,
            "bytes/sent": s.bytes_sent,
            "publish/messages/dropped": s.publish_dropped,
            "publish/messages/denied": s.publish_denied,
            "publish/messages/refused": s.publish_refused,
            "publish/messages/held": len(self.held),
            "subscriptions/denied": s.subscribe_denied,
            "retained messages/count": self.retained.count,
            "subscriptions/count": self.subscriptions.count,
            "protocol errors": s.protocol_errors,
        }
        for listener, count in s.per_listener.items():
            values[f"listeners/{listener}/clients/connected"] = count
        return [(SYS_PREFIX + k, str(v)) for k, v in values.items()]

    def publish_sys(self) -> None:
        for topic, value in self.sys_messages():
            existing = self.retained.get(topic)
            if existing is not None and existing.payload == value.encode():
                continue
            self.route(Message(topic, value.encode(), 0, True))


def _server_only(engine: Engine, conn: Connection, packet: Any) -> None:
    from ..protocol.wire import ProtocolError

    raise ProtocolError(f"{type(packet).__name__.upper()} is sent by servers, not clients")
