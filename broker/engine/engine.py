"""The engine: all broker state, and the rules that change it, without I/O.

The server shell creates a :class:`~broker.engine.connection.Connection` per transport with
:meth:`Engine.connect`, calls :meth:`Engine.tick` about once a second and ``sys.publish()``
every ``sys_interval``, and flushes connections' output. The rules live in one module per
MQTT concept, each a part of :class:`Engine`:

========================  ==============================================================
broker.engine.router      which sessions get a message (``route``, ``has_room``)
broker.engine.queue       send now or queue; in-flight window; back-pressure (``deliver``)
broker.engine.sessions    a connection's end, session expiry (``end_session``)
broker.engine.wills       wills, delayed wills
broker.engine.keepalive   keepalive and CONNECT timeouts
broker.engine.retained    retained messages, and those sent on subscribe
broker.engine.local       the in-process API (``publish``, ``subscribe_local``)
broker.engine.sys         the $SYS registry (``engine.sys``)
========================  ==============================================================

Packets are handled by one module per packet family: connect.py (CONNECT, DISCONNECT,
AUTH, PINGREQ), publish.py (PUBLISH and its acknowledgements), subscribe.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from ..config import BrokerConfig
from . import connect, publish, subscribe
from .admission import Admission, Ticket
from .connection import Connection
from .keepalive import Keepalive
from .local import LocalApi, LocalSubscription
from .policy import Policy, as_policy, compose
from .queue import Delivery
from .retained import RetainedOnSubscribe, RetainedStore
from .router import Routing
from .session import Session
from .sessions import Sessions
from .stats import Stats
from .storehooks import StoreHooks
from .subscriptions import SubscriptionTree
from .sys import SysTopics
from .wills import Wills

log = logging.getLogger("broker")

__all__ = ["Engine", "LocalSubscription"]


class Engine(Routing, Delivery, Sessions, Wills, Keepalive, RetainedOnSubscribe, LocalApi):
    """All broker state and the rules that change it."""

    def __init__(
        self, config: BrokerConfig | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config or BrokerConfig()
        self.clock = clock
        self.log = log
        #: The server composes the listeners' policy at start (broker.engine.policy.compose).
        self.policy: Policy = compose(self.config)
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
        #: $SYS/broker/...: the engine's counters, and what the store and bridges plug in.
        self.sys = SysTopics(self)
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
        value = as_policy(value)
        self._policy = value
        # Checks that cannot fail cost nothing on the hot path: they are skipped.
        self._check_read = value.restricts_read
        self.check_publish = value.restricts_publish

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

    # --- time --------------------------------------------------------------------------

    def tick(self) -> None:
        """Timers: keepalive, CONNECT timeout, delayed wills, session expiry."""
        now = self.clock()
        self.check_timeouts(now)
        self.publish_due_wills(now)
        self.admission.tick()
        self.expire_sessions(now)


def _server_only(engine: Engine, conn: Connection, packet: Any) -> None:
    from ..protocol.wire import ProtocolError

    raise ProtocolError(f"{type(packet).__name__.upper()} is sent by servers, not clients")
