"""TcpRelay: carries each serial node connection to an MQTT broker over TCP.

For when the broker is not in this process: ``gateway run`` against an external broker, or
``python -m gateway.serial`` next to any broker (Mosquitto, or the gateway on another port).
It has the broker's ``protocol_factory(listener=...)``, so SerialBridge takes it in place of
broker.Broker; each node connection becomes one TCP connection, and its end (a bad frame,
unplugging) is a dropped TCP connection, so the broker publishes the node's will.
"""

from __future__ import annotations

import asyncio
import logging

from broker.protocol.codec import Decoder

log = logging.getLogger("gateway.serial")


class TcpRelay:
    """A protocol factory whose connections are forwarded to ``host:port``."""

    def __init__(self, host: str, port: int, connect_timeout: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout

    def protocol_factory(self, listener: str = "serial") -> asyncio.Protocol:
        return _RelayedConnection(self)


class _RelayedConnection(asyncio.Protocol):
    """One node connection: serial side is ``self.serial``, broker side ``self.upstream``."""

    def __init__(self, relay: TcpRelay) -> None:
        self.relay = relay
        self.serial: asyncio.Transport | None = None
        self.upstream: asyncio.Transport | None = None
        self.pending = bytearray()  # node bytes that arrive before the TCP connection is up
        self.closed = False
        self.task: asyncio.Task[None] | None = None
        self.upstream_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.serial = transport  # type: ignore[assignment]
        self.task = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            upstream, _ = await asyncio.wait_for(
                loop.create_connection(lambda: _Upstream(self), self.relay.host, self.relay.port),
                self.relay.connect_timeout,
            )
        except (OSError, TimeoutError) as exc:
            log.warning("serial relay: cannot reach broker %s:%d: %s",
                        self.relay.host, self.relay.port, exc)
            if self.serial is not None:
                self.serial.close()
            return
        if self.closed:
            upstream.close()
            return
        self.upstream = upstream  # type: ignore[assignment]
        if self.pending:
            upstream.write(bytes(self.pending))  # type: ignore[attr-defined]
            self.pending.clear()
        if self.upstream_paused:
            upstream.pause_reading()  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self.upstream is not None:
            self.upstream.write(data)
        else:
            self.pending += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.upstream is not None:
            # An error on the serial side is a dropped connection for the broker (abort, so
            # nothing queued is delivered late); a clean end (CLOSE) a normal close.
            if exc is not None:
                self.upstream.abort()
            else:
                self.upstream.close()
        elif self.task is not None:
            self.task.cancel()

    # The serial line is slower than TCP: stop reading the broker while it is backed up.
    def pause_writing(self) -> None:
        self.upstream_paused = True
        if self.upstream is not None:
            self.upstream.pause_reading()

    def resume_writing(self) -> None:
        self.upstream_paused = False
        if self.upstream is not None:
            self.upstream.resume_reading()


class _Upstream(asyncio.Protocol):
    """The TCP connection to the broker of one relayed node connection."""

    def __init__(self, conn: _RelayedConnection) -> None:
        self.conn = conn
        # The serial link sends one packet per frame: cut the broker's stream into packets.
        self.packets = Decoder(raw=True)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        serial = self.conn.serial
        if serial is None or serial.is_closing():
            return
        serial.writelines(self.packets.feed(data))
        if self.packets.error is not None:
            log.error("serial relay: the broker sent a malformed MQTT stream (%s); closing",
                      self.packets.error)
            if self.transport is not None:
                self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        serial = self.conn.serial
        if serial is not None and not serial.is_closing():
            serial.close()  # the broker ended it: the node gets CLOSE and reconnects
