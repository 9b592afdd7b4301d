"""Admission: what one address may hold open before it has logged in. No I/O.

The I/O shell asks :meth:`Admission.admit` as soon as the kernel hands it a connection
(TCP accept), before any TLS handshake or WebSocket upgrade: those cost a file descriptor
and memory too, and a stranger must not hold them for free. Three limits apply from that
moment, per address (loopback is exempt from the first two):

* ``max_connection_rate`` new connections a second;
* ``max_pending_per_address`` connections at once that have not yet logged in (TLS
  handshake, WebSocket upgrade and CONNECT still to come or under way);
* ``connect_timeout`` seconds from accept to an accepted CONNECT, whatever the listener.

A :class:`Ticket` follows one connection until its CONNECT is accepted or it ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from .addresses import is_loopback, peer_host

if TYPE_CHECKING:
    from ..config import BrokerConfig
    from .connection import Connection

#: Seconds between two log lines about one address's refused or timed-out connections.
LOG_INTERVAL = 10.0


class Ticket:
    """One accepted connection, from TCP accept until it has logged in or has ended."""

    __slots__ = ("host", "accepted_at", "conn", "on_expire", "is_open", "ended")

    def __init__(self, host: str, accepted_at: float) -> None:
        self.host = host
        self.accepted_at = accepted_at
        #: The engine's Connection, once the transport (after TLS / the upgrade) has one.
        self.conn: Connection | None = None
        #: Set by the shell: ends the transport (its connect_timeout passed before CONNECT).
        self.on_expire: Callable[[], None] | None = None
        #: Set by the shell: False once the transport has closed (before or after the engine
        #: saw it), so a connection dropped during its TLS handshake stops counting at once.
        self.is_open: Callable[[], bool] | None = None
        self.ended = False

    def end(self) -> None:
        """The shell's transport is gone: the ticket no longer counts."""
        self.ended = True

    @property
    def pending(self) -> bool:
        """Still open and not logged in."""
        if self.ended:
            return False
        if self.is_open is not None and not self.is_open():
            self.ended = True
            return False
        conn = self.conn
        return conn is None or (conn.session is None and not conn.closed)


class LogThrottle:
    """Counts events per key and says when a line about them is due: the first at once, then
    at most one per ``interval`` with the number seen meanwhile (a flood writes one line per
    interval, not one per attempt)."""

    def __init__(self, clock: Callable[[], float], interval: float = LOG_INTERVAL) -> None:
        self.clock = clock
        self.interval = interval
        self._counts: dict[str, int] = {}
        self._last: dict[str, float] = {}

    def note(self, key: str) -> int:
        """Count one event; returns how many to report now (0: not yet)."""
        self._counts[key] = self._counts.get(key, 0) + 1
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            return 0
        self._last[key] = now
        return self._counts.pop(key)

    def due(self) -> list[tuple[str, int]]:
        """Counts not yet reported whose interval has passed (call now and then)."""
        now = self.clock()
        out = []
        for key, count in list(self._counts.items()):
            if now - self._last.get(key, now) >= self.interval:
                out.append((key, count))
                del self._counts[key]
                self._last[key] = now
        for key, at in list(self._last.items()):
            if key not in self._counts and now - at >= 2 * self.interval:
                del self._last[key]  # quiet for long: the next event is reported at once
        return out


class Admission:
    """Per-address limits on connections that have not logged in (see the module doc)."""

    def __init__(
        self, config: BrokerConfig, clock: Callable[[], float], log: logging.Logger
    ) -> None:
        self.config = config
        self.clock = clock
        self.log = log
        self._rate: dict[str, tuple[float, int]] = {}
        self._pending: dict[str, list[Ticket]] = {}
        self._refusals = LogThrottle(clock)
        self._expiries = LogThrottle(clock)

    def admit(self, peer: str) -> Ticket | None:
        """A connection from ``peer`` was accepted: its ticket, or None to close it now."""
        host = peer_host(peer)
        now = self.clock()
        ticket = Ticket(host, now)
        tickets = self._pending.get(host)
        if tickets is None:
            tickets = self._pending[host] = []
        else:
            tickets[:] = [t for t in tickets if t.pending]
        if not is_loopback(host):
            why = self._over_limit(host, now, len(tickets))
            if why:
                count = self._refusals.note(host)
                if count:
                    self.log.warning("refused %d connection(s) from %s: %s", count, host, why)
                return None
        tickets.append(ticket)
        return ticket

    def _over_limit(self, host: str, now: float, pending: int) -> str:
        config = self.config
        rate = config.max_connection_rate
        if rate:
            start, count = self._rate.get(host, (now, 0))
            if now - start >= 1.0:
                start, count = now, 0
            self._rate[host] = (start, count + 1)
            if count + 1 > rate:
                return f"more than {rate} new connections per second"
        cap = config.max_pending_per_address
        if cap and pending >= cap:
            return f"{cap} connections already open without having logged in"
        return ""

    def tick(self) -> None:
        """Once a second: end connections whose connect_timeout passed before their transport
        reached the engine (a TLS handshake or WebSocket upgrade never finished); forget
        what no longer counts."""
        now = self.clock()
        deadline = now - self.config.connect_timeout
        for host, tickets in list(self._pending.items()):
            live = []
            for t in tickets:
                if not t.pending:
                    continue
                if t.conn is None and t.accepted_at <= deadline:
                    t.ended = True
                    if t.on_expire is not None:
                        t.on_expire()
                    self.expired(host)
                    continue
                live.append(t)
            if live:
                self._pending[host] = live
            else:
                del self._pending[host]
        for host, count in self._expiries.due():
            self._log_expired(host, count)
        for host, count in self._refusals.due():
            self.log.warning("refused %d more connection(s) from %s", count, host)
        if self._rate:
            self._rate = {h: v for h, v in self._rate.items() if now - v[0] < 1.0}

    def expired(self, host: str) -> None:
        """A connection from ``host`` was closed for sending no CONNECT in time, at any
        stage: logged with a count, at most once per interval per address, so idle
        connections dropped one after another do not write a line each."""
        count = self._expiries.note(host)
        if count:
            self._log_expired(host, count)

    def _log_expired(self, host: str, count: int) -> None:
        self.log.info(
            "closed %d connection(s) from %s that sent no CONNECT within %.0f s of connecting",
            count,
            host,
            self.config.connect_timeout,
        )

    def pending(self, host: str) -> int:
        """Connections from ``host`` that have not logged in yet."""
        return sum(1 for t in self._pending.get(host, ()) if t.pending)

    def tickets(self) -> list[Ticket]:
        """Every ticket still counted (the shell ends them when it stops)."""
        return [t for tickets in self._pending.values() for t in tickets if t.pending]
