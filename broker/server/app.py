"""The broker process: listeners, timers, output flushing, and the in-process API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ..config import BrokerConfig
from ..engine.admission import Ticket
from ..engine.connection import Connection
from ..engine.engine import Engine, LocalSubscription
from ..engine.message import Message
from ..engine.policy import Policy, compose
from ..store import Persistence
from .accept import raise_open_file_limit
from .listeners import ListenerConfig, listener_policy, start_listener
from .mqtt_protocol import MQTTProtocol

if TYPE_CHECKING:
    from ..auth.backoff import LoginGuard

log = logging.getLogger("broker")

#: Seconds a closed connection's input is still read (and discarded) before the socket closes.
CLOSE_GRACE = 2.0


#: threads hashing passwords: two keep both of a Pi's cores busy under a spray of wrong
#: passwords, while the event loop (one more thread) goes on serving everyone else
PASSWORD_CHECK_THREADS = 2


def build_policy(config: BrokerConfig, listeners: list[ListenerConfig],
                 guard: LoginGuard | None = None) -> Policy:
    """The engine's policy: each listener's own (unless a policy object is configured; every
    listener's logins share ``guard``), composed by broker.engine.policy.compose."""
    if config.policy is not None:
        return compose(config)
    return compose(config, {lc.name: listener_policy(lc, guard) for lc in listeners})


class Broker:
    """An MQTT broker on the running asyncio loop.

    ``publish`` and ``subscribe`` give in-process code (the gateway's drivers) the same
    router as network clients, without a socket in between.
    """

    def __init__(self, config: BrokerConfig | None = None) -> None:
        self.config = config or BrokerConfig()
        self.engine = Engine(self.config)
        #: The $SYS registry (broker.engine.sys): the store and bridges plug their topics in.
        self.sys = self.engine.sys
        #: The first TCP listener's port (the one `port=0` picked, for tests).
        self.port: int = 0
        #: Every listener's bound port by listener name.
        self.ports: dict[str, int] = {}
        #: "kind host:port" of every open listener, for start-up messages.
        self.listening: list[str] = []
        self._servers: list[asyncio.AbstractServer] = []
        self._dirty: list[Connection] = []
        #: Transports half-closed by us, read and discarded until CLOSE_GRACE has passed.
        self._draining: set[Any] = set()
        self._flush_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timers: list[asyncio.TimerHandle] = []
        #: Durable state under config.data_dir (None: memory only).
        self.persistence: Persistence | None = None
        #: Bridges to upstream brokers (config.bridge_config), as the program that runs the
        #: broker started them (broker.cli, gateway.serve): for metrics. The program stops
        #: them before the broker.
        self.bridges: list = []
        #: The one backoff for wrong passwords (per address, per user): every listener's
        #: and the dashboard's logins count against it.
        from ..auth.backoff import LoginGuard  # broker.auth imports the engine: not at the top

        self.login_guard = LoginGuard()
        self._password_checks: ThreadPoolExecutor | None = None

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the listener(s) and start the timers; returns once connections are accepted."""
        self._loop = asyncio.get_running_loop()
        config = self.config
        listeners = [ListenerConfig.from_value(v) for v in config.listeners] or [
            ListenerConfig("tcp", config.host, config.port, name="default")
        ]
        self.engine.policy = build_policy(config, listeners, self.login_guard)
        raise_open_file_limit(config.max_connections)
        if config.data_dir and self.persistence is None:
            # Loaded before the first connection: resumed sessions find their messages.
            self.persistence = Persistence.open(
                config, self.engine, self._loop, self._flush_one, self._write_packets
            )
        for lc in listeners:
            server = await start_listener(
                lc, self.protocol_factory, self.engine.admit, config.connect_timeout
            )
            self._servers.append(server)
            port = server.sockets[0].getsockname()[1]
            self.ports[lc.name] = port
            self.listening.append(f"{lc.kind} {lc.host}:{port}")
            if not self.port and lc.kind == "tcp":
                self.port = port
            log.info("listening for %s on %s:%d (%s)", lc.kind, lc.host, port, lc.name)
        self._schedule(1.0, self._tick)
        if config.sys_interval > 0:
            self.engine.sys.publish()
            self._schedule(config.sys_interval, self._sys)

    async def stop(self) -> None:
        """Stop accepting, close every connection, cancel timers."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for server in self._servers:
            server.close()
        for ticket in self.engine.admission.tickets():
            if ticket.conn is None and ticket.on_expire is not None:
                ticket.on_expire()  # a WebSocket upgrade or TLS handshake still under way
        if self.persistence is not None:
            await self.persistence.drain()  # acknowledgements written below must be durable
        for conn in list(self.engine.connections):
            transport = conn.shell
            conn.disconnect(0x8B, "server shutting down")
            if transport is not None:
                self._flush_one(conn)
                transport.close()  # type: ignore[attr-defined]
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        if self.persistence is not None:
            await self.persistence.close()
            self.persistence = None
        if self._password_checks is not None:
            self._password_checks.shutdown(wait=False, cancel_futures=True)
            self._password_checks = None

    def password_checks(self) -> ThreadPoolExecutor:
        """The threads that hash passwords (the broker's and the dashboard's logins)."""
        if self._password_checks is None:
            self._password_checks = ThreadPoolExecutor(PASSWORD_CHECK_THREADS,
                                                       thread_name_prefix="password-check")
        return self._password_checks

    def reload(self) -> bool:
        """Re-read password and ACL files (SIGHUP); connected clients stay connected."""
        ok = self.engine.policy.reload()
        log.info("security files reloaded" if ok else "reload failed: previous rules kept")
        return ok

    # --- in-process API --------------------------------------------------------------

    def publish(
        self,
        topic: str,
        payload: bytes | str,
        qos: int = 0,
        retain: bool = False,
        properties: dict | None = None,
        origin: str | None = None,
    ) -> None:
        """Publish a message as the broker itself (retained store, subscribers, $SYS counts);
        ``origin`` names an in-process publisher (Message.origin: a bridge tells its own
        messages apart by it)."""
        self.engine.publish(topic, payload, qos, retain, properties, origin)

    def subscribe(
        self, topic_filter: str, callback: Callable[[Message], None], qos: int = 0
    ) -> LocalSubscription:
        """Call ``callback(message)`` on the loop for each message matching ``topic_filter``."""
        return self.engine.subscribe_local(topic_filter, callback, qos)

    def protocol_factory(
        self, listener: str = "default", ticket: Ticket | None = None
    ) -> MQTTProtocol:
        """An asyncio Protocol for a byte-stream transport; ``ticket`` comes from the
        admission at TCP accept (our listeners), none for others (serial nodes)."""
        return MQTTProtocol(self, listener, ticket)

    # --- output and timers -------------------------------------------------------------

    def _wake(self, conn: Connection) -> None:
        self._dirty.append(conn)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            (self._loop or asyncio.get_running_loop()).call_soon(self._flush)

    def read_done(self) -> None:
        """A transport's read was handled: write what it produced now rather than one loop
        turn later (at low rates that saves an epoll_wait per message; under load one read
        carries many packets, so writes stay batched). With a store, output waits for the
        group commit of the loop turn instead."""
        if self._dirty and self.persistence is None:
            self._flush()

    def _flush(self) -> None:
        self._flush_scheduled = False
        dirty = self._dirty
        self._dirty = []
        if self.persistence is not None:
            self.persistence.flush(dirty)  # output waits for the commit of what preceded it
            return
        for conn in dirty:
            self._flush_one(conn)

    def _flush_one(self, conn: Connection) -> None:
        transport = conn.shell
        if transport is None:
            return
        if conn.out:
            self._write_packets(conn, conn.take_output())
        if conn.closed:
            if not transport.is_closing() and transport not in self._draining:  # type: ignore[attr-defined]
                self._close_gracefully(transport)
            return
        is_reading = getattr(transport, "is_reading", None)
        if is_reading is not None and is_reading() != conn.reading:
            if conn.reading:
                transport.resume_reading()  # type: ignore[attr-defined]
            else:
                transport.pause_reading()  # type: ignore[attr-defined]

    @staticmethod
    def _write_packets(conn: Connection, packets: list[bytes]) -> None:
        """Whole packets to the connection's transport: one write for a byte stream, one
        write per packet for a transport that frames each (``conn.framed``: serial)."""
        transport = conn.shell
        if transport is None or transport.is_closing():  # type: ignore[attr-defined]
            return
        if conn.framed:
            transport.writelines(packets)  # type: ignore[attr-defined]
        else:
            transport.write(packets[0] if len(packets) == 1 else b"".join(packets))  # type: ignore[attr-defined]

    def _close_gracefully(self, transport: Any) -> None:
        """Half-close, read and discard for a moment, then close.

        Closing a socket with unread input makes the kernel send RST, and a RST discards
        data the peer has not read yet: our DISCONNECT with its reason code. A client that
        is still sending when we end its connection would never see why.
        """
        try:
            can_eof = transport.can_write_eof()
        except (NotImplementedError, AttributeError):
            can_eof = False
        if not can_eof:
            transport.close()
            return
        try:
            transport.write_eof()
        except OSError:  # the peer is gone already
            transport.close()
            return
        with contextlib.suppress(Exception):
            transport.resume_reading()
        self._draining.add(transport)
        assert self._loop is not None
        self._loop.call_later(CLOSE_GRACE, self._finish_close, transport)

    def _finish_close(self, transport: Any) -> None:
        self._draining.discard(transport)
        if not transport.is_closing():
            transport.close()

    def _schedule(self, delay: float, fn: Callable[[], None]) -> None:
        loop = self._loop
        assert loop is not None

        def run() -> None:
            try:
                fn()
            except Exception:  # a timer bug must not stop the timers
                log.exception("timer %s failed", fn.__name__)
            self._timers.remove(handle_box[0])
            handle_box[0] = loop.call_later(delay, run)
            self._timers.append(handle_box[0])

        handle_box = [loop.call_later(delay, run)]
        self._timers.append(handle_box[0])

    def _tick(self) -> None:
        self.engine.tick()

    def _sys(self) -> None:
        self.engine.sys.publish()
