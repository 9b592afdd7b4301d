"""The asyncio side of one connection: move bytes between a transport and the engine."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..engine.admission import Ticket
    from ..engine.connection import Connection
    from .app import Broker

# Above this much unsent data a subscriber is "slow": the engine queues for it instead.
WRITE_HIGH_WATER = 512 * 1024


def peer_name(transport: asyncio.BaseTransport) -> str:
    """``host:port``, ``[v6]:port``, or what a non-socket transport reports (``serial:...``)."""
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        host = peer[0]
        return f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
    return str(peer) if peer else "?"


class MQTTProtocol(asyncio.Protocol):
    """One MQTT connection over any byte-stream transport (TCP, TLS, WebSocket, serial)."""

    __slots__ = ("broker", "listener", "conn", "transport", "ticket")

    def __init__(
        self, broker: Broker, listener: str = "default", ticket: Ticket | None = None
    ) -> None:
        self.broker = broker
        self.listener = listener
        self.conn: Connection | None = None
        self.transport: asyncio.Transport | None = None
        #: From the listener's admission at TCP accept (None: admitted now, e.g. serial).
        self.ticket = ticket

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        conn = self.broker.engine.connect(peer_name(transport), self.listener, self.ticket)
        conn.shell = transport
        # A transport that frames each write (the serial link) gets one packet per write.
        conn.framed = bool(transport.get_extra_info("mqtt_packet_per_write", False))
        if transport.get_extra_info("peercert") is not None:
            from ..transports.tls import peer_common_name

            conn.info.cert_cn = peer_common_name(transport)
        conn.wake = self.broker._wake
        conn.check_off_loop = self._check_off_loop
        self.conn = conn
        if conn.closed:  # refused by the engine (connection rate)
            transport.close()
            return
        set_limits = getattr(transport, "set_write_buffer_limits", None)
        if set_limits is not None:
            try:
                set_limits(high=WRITE_HIGH_WATER)
            except (NotImplementedError, AttributeError):
                pass

    def _check_off_loop(self, job: Callable[[], bool]) -> None:
        """Run a password check in the broker's checking threads, then let the engine
        take the held CONNECT again with the answer; the loop serves others meanwhile."""
        future = asyncio.get_running_loop().run_in_executor(self.broker.password_checks(), job)
        future.add_done_callback(self._checked)

    def _checked(self, future: asyncio.Future[bool]) -> None:
        conn = self.conn
        if conn is None or conn.closed:
            return
        failed = future.cancelled() or future.exception() is not None
        conn.info.password_ok = not failed and bool(future.result())
        conn.release()
        self.broker.read_done()

    def data_received(self, data: bytes) -> None:
        self.conn.data_received(data)  # type: ignore[union-attr]
        self.broker.read_done()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.conn.connection_lost()

    def pause_writing(self) -> None:
        if self.conn is not None:
            self.conn.pause_writing()

    def resume_writing(self) -> None:
        if self.conn is not None:
            self.conn.resume_writing()
