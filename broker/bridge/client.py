"""An asyncio MQTT 3.1.1 / 5.0 client on the broker's own codec (for bridges and tools).

One object per connection: :meth:`MQTTClient.connect` opens it (TCP or TLS) and returns
the CONNACK; :attr:`MQTTClient.closed` resolves when it ends, whoever ended it. Incoming
messages go to ``on_message(publish, ack)``; the receiver calls ``ack()`` when the message
is safe (for a bridge: once the local broker has it durably), which sends PUBACK or PUBREC.

Why over 300 lines: one connection's whole client side (CONNECT, keepalive, QoS 1/2 in both
directions) is one state machine over one socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from ..protocol.codec import Decoder, encode
from ..protocol.control import PINGREQ_BYTES
from ..protocol.packets import (
    MQTT5,
    Connack,
    Connect,
    Disconnect,
    Packet,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    SubscriptionOptions,
    Will,
)
from ..protocol.wire import MQTTError

log = logging.getLogger("broker.bridge")


OnMessage = Callable[[Publish, Callable[[], None]], None]


class ConnectionRefused(Exception):
    """The server answered CONNECT with a failure code."""

    def __init__(self, code: int) -> None:
        super().__init__(f"CONNACK code 0x{code:02x}")
        self.code = code


class ConnectionLost(Exception):
    """The connection ended before the operation completed."""


@dataclass
class ClientOptions:
    """Where and how to connect."""

    host: str
    port: int = 1883
    client_id: str = ""
    version: int = 4  # 4: MQTT 3.1.1, 5: MQTT 5.0
    bridge_bit: bool = False  # 3.1.1 only: Mosquitto's try_private
    clean_start: bool = True
    keepalive: int = 60
    username: str | None = None
    password: str | None = None
    ssl: ssl.SSLContext | None = None
    session_expiry: int = 0  # 5.0: seconds the server keeps the session (0xFFFFFFFF: forever)
    max_inflight: int = 20
    connect_timeout: float = 20.0
    will: Will | None = None


class MQTTClient:
    """A single MQTT connection."""

    def __init__(
        self,
        options: ClientOptions,
        on_message: OnMessage | None = None,
        incoming_qos2: set[int] | None = None,
    ) -> None:
        """``incoming_qos2``: packet ids of QoS 2 messages taken and not yet released; pass
        the same set to each connection of a persistent session, so that a PUBLISH resent
        after a reconnect is not taken twice."""
        self.options = options
        self.on_message = on_message
        self.version = options.version
        self.closed: asyncio.Future[BaseException | None] | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._decoder = Decoder(version=options.version)
        self._next_id = 0
        self._inflight: dict[int, asyncio.Future[int]] = {}
        self._window = asyncio.Semaphore(options.max_inflight)
        self._subacks: dict[int, asyncio.Future[list[int]]] = {}
        self._incoming_qos2 = incoming_qos2 if incoming_qos2 is not None else set()
        self._tasks: list[asyncio.Task] = []
        self._last_rx = 0.0

    # --- lifecycle -------------------------------------------------------------------

    async def connect(self) -> Connack:
        """Open the connection and complete the CONNECT/CONNACK exchange."""
        o = self.options
        loop = asyncio.get_running_loop()
        self.closed = loop.create_future()
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(
                o.host, o.port, ssl=o.ssl, server_hostname=o.host if o.ssl else None
            ),
            o.connect_timeout,
        )
        props: dict = {}
        if o.version == MQTT5:
            props["receive_maximum"] = 65535
            if o.session_expiry:
                props["session_expiry_interval"] = o.session_expiry
        password = o.password.encode() if o.password is not None else None
        connect = Connect(
            o.version,
            o.client_id,
            o.clean_start,
            o.keepalive,
            o.will,
            o.username,
            password,
            props,
            bridge=o.bridge_bit and o.version == 4,
        )
        self._writer.write(encode(connect, o.version))
        try:
            connack = await asyncio.wait_for(self._read_connack(), o.connect_timeout)
        except BaseException:
            self._abort()
            raise
        if connack.reason_code != 0:
            self._abort()
            raise ConnectionRefused(connack.reason_code)
        if o.version == MQTT5:
            server_max = connack.properties.get("receive_maximum", 65535)
            if server_max < o.max_inflight:
                self._window = asyncio.Semaphore(server_max)
        self._last_rx = loop.time()
        self._tasks = [
            loop.create_task(self._read_loop()),
            loop.create_task(self._keepalive_loop()),
        ]
        return connack

    async def _read_connack(self) -> Connack:
        assert self._reader is not None
        while True:
            data = await self._reader.read(65536)
            if not data:
                raise ConnectionLost("closed before CONNACK")
            packets = self._decoder.feed(data)
            if self._decoder.error is not None:
                if data[:1] == b"\x20" and len(data) >= 4:
                    # A CONNACK of another protocol version (a 5.0 server refusing our level
                    # answers in 5.0): its reason code is all we need from it.
                    raise ConnectionRefused(data[3])
                raise self._decoder.error
            if packets:
                first = packets[0]
                if not isinstance(first, Connack):
                    raise ConnectionLost(f"expected CONNACK, got {type(first).__name__}")
                for packet in packets[1:]:  # the server may send more right behind CONNACK
                    self._handle(packet)
                return first

    async def disconnect(self) -> None:
        """Send DISCONNECT and close."""
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(encode(Disconnect(), self.version))
            with contextlib.suppress(OSError):
                await self._writer.drain()
        self._finish(None)

    def _abort(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def drop(self) -> None:
        """End the connection without DISCONNECT, as a crash or a lost link would."""
        self._finish(ConnectionLost("dropped"))

    def _finish(self, exc: BaseException | None) -> None:
        """The connection is over: fail what waits on it, stop the tasks."""
        if self.closed is None or self.closed.done():
            return
        self.closed.set_result(exc)
        self._abort()
        lost = ConnectionLost(str(exc) if exc else "connection closed")
        for fut in list(self._inflight.values()) + list(self._subacks.values()):
            if not fut.done():
                fut.set_exception(lost)
                fut.exception()  # retrieved: nobody may be waiting any more
        self._inflight.clear()
        self._subacks.clear()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()

    @property
    def is_connected(self) -> bool:
        return self.closed is not None and not self.closed.done()

    # --- operations ------------------------------------------------------------------

    async def subscribe(self, topics: list[tuple[str, SubscriptionOptions]]) -> list[int]:
        """SUBSCRIBE and wait for the SUBACK's reason codes."""
        packet_id = self._new_id()
        fut: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._subacks[packet_id] = fut
        self._send(Subscribe(packet_id, topics))
        return await fut

    async def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int = 0,
        retain: bool = False,
        properties: dict | None = None,
    ) -> asyncio.Future[int]:
        """Send a PUBLISH once the in-flight window has room.

        Returns a future that resolves (to the reason code) on PUBACK or PUBCOMP, at once for
        QoS 0, and fails with ConnectionLost if the connection ends first.
        """
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        if not self.is_connected:
            raise ConnectionLost("not connected")
        if qos == 0:
            self._send(Publish(topic, payload, 0, retain, False, 0, properties or {}))
            fut.set_result(0)
            return fut
        await self._window.acquire()
        if not self.is_connected:
            self._window.release()
            raise ConnectionLost("connection closed")
        packet_id = self._new_id()
        self._inflight[packet_id] = fut
        fut.add_done_callback(lambda _: self._window.release())
        self._send(Publish(topic, payload, qos, retain, False, packet_id, properties or {}))
        return fut

    def _new_id(self) -> int:
        for _ in range(65535):
            self._next_id = self._next_id % 65535 + 1
            if self._next_id not in self._inflight and self._next_id not in self._subacks:
                return self._next_id
        raise RuntimeError("all packet identifiers in use")

    def _send(self, packet: Packet) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(encode(packet, self.version))

    # --- input -----------------------------------------------------------------------

    async def _read_loop(self) -> None:
        assert self._reader is not None
        loop = asyncio.get_running_loop()
        error: BaseException | None = None
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    error = ConnectionLost("closed by the server")
                    break
                self._last_rx = loop.time()
                packets = self._decoder.feed(data)
                for packet in packets:
                    self._handle(packet)
                if self._decoder.error is not None:
                    error = self._decoder.error
                    break
        except (OSError, MQTTError) as exc:
            error = exc
        self._finish(error)

    def _handle(self, p: Packet) -> None:
        if isinstance(p, Publish):
            self._on_publish(p)
        elif isinstance(p, Puback | Pubcomp):
            fut = self._inflight.pop(p.packet_id, None)
            if fut is not None and not fut.done():
                fut.set_result(p.reason_code)
        elif isinstance(p, Pubrec):
            if p.reason_code >= 0x80:
                fut = self._inflight.pop(p.packet_id, None)
                if fut is not None and not fut.done():
                    fut.set_result(p.reason_code)
            else:
                self._send(Pubrel(p.packet_id))
        elif isinstance(p, Pubrel):
            self._incoming_qos2.discard(p.packet_id)
            self._send(Pubcomp(p.packet_id))
        elif isinstance(p, Suback):
            sub = self._subacks.pop(p.packet_id, None)
            if sub is not None and not sub.done():
                sub.set_result(p.reason_codes)
        elif isinstance(p, Disconnect):
            self._finish(ConnectionLost(f"server sent DISCONNECT 0x{p.reason_code:02x}"))

    def _on_publish(self, p: Publish) -> None:
        if p.qos == 2 and p.packet_id in self._incoming_qos2:
            self._send(Pubrec(p.packet_id))  # a resend of a message we already took
            return
        if p.qos == 2:
            self._incoming_qos2.add(p.packet_id)
        if p.qos == 0:
            ack: Callable[[], None] = _nothing
        else:
            reply = Puback(p.packet_id) if p.qos == 1 else Pubrec(p.packet_id)
            ack = lambda: self._send(reply)  # noqa: E731
        if self.on_message is None:
            ack()
            return
        try:
            self.on_message(p, ack)
        except Exception:  # a receiver bug must not kill the connection's reader
            log.exception("message handler failed for %s", p.topic)

    async def _keepalive_loop(self) -> None:
        keepalive = self.options.keepalive
        if not keepalive:
            return
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(keepalive / 2)
            if loop.time() - self._last_rx > keepalive * 1.5:
                self._finish(ConnectionLost("keepalive timeout: the server went silent"))
                return
            if self._writer is not None and not self._writer.is_closing():
                self._writer.write(PINGREQ_BYTES)


def _nothing() -> None:
    pass
