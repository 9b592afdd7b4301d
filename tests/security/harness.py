"""Test plumbing: an asyncio loop in a thread, a TCP relay, and a blocking paho client."""

from __future__ import annotations

import asyncio
import queue
import threading
import uuid
from collections.abc import Coroutine
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

TIMEOUT = 30.0  # generous: the machine is shared and loaded


class LoopThread:
    """An event loop running in a daemon thread; ``run`` executes a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 120.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn, *args) -> Any:
        async def wrapper():
            return fn(*args)

        return self.run(wrapper())

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        self.loop.close()


class TcpRelay(asyncio.Protocol):
    """Pipes an MQTT byte stream to a TCP broker: a stand-in for broker.protocol_factory().

    Lets the WebSocket layer be tested against Debian's mosquitto on its plain TCP port.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.pending: list[bytes] = []
        self.upstream: asyncio.Transport | None = None
        self.downstream: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.downstream = transport  # type: ignore[assignment]
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        relay = self

        class Back(asyncio.Protocol):
            def data_received(self, data: bytes) -> None:
                relay.downstream.write(data)

            def connection_lost(self, exc: Exception | None) -> None:
                relay.downstream.close()

        loop = asyncio.get_running_loop()
        self.upstream, _ = await loop.create_connection(Back, "127.0.0.1", self.port)
        for chunk in self.pending:
            self.upstream.write(chunk)
        self.pending.clear()

    def data_received(self, data: bytes) -> None:
        if self.upstream is None:
            self.pending.append(data)
        else:
            self.upstream.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.upstream is not None:
            self.upstream.close()


class Client:
    """A paho client driven synchronously: connect, subscribe, publish, receive."""

    def __init__(
        self,
        port: int,
        *,
        transport: str = "tcp",
        protocol: int = mqtt.MQTTv311,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        tls: dict | None = None,
        ws_path: str = "/mqtt",
    ) -> None:
        self.port = port
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._events: queue.Queue[tuple] = queue.Queue()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"t-{uuid.uuid4().hex[:10]}",
            protocol=protocol,
            transport=transport,
            reconnect_on_failure=False,
        )
        if transport == "websockets":
            self.client.ws_set_options(path=ws_path)
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls is not None:
            self.client.tls_set(**tls)
        c = self.client
        c.on_connect = lambda cl, ud, flags, rc, props: self._events.put(("connack", rc))
        c.on_subscribe = lambda cl, ud, mid, rcs, props: self._events.put(("suback", mid, rcs))
        c.on_publish = lambda cl, ud, mid, rc, props: self._events.put(("puback", mid))
        c.on_disconnect = lambda cl, ud, flags, rc, props: self._events.put(("disconnect", rc))
        c.on_message = lambda cl, ud, msg: self.messages.put(msg)

    def _wait(self, kind: str) -> tuple:
        while True:
            event = self._events.get(timeout=TIMEOUT)
            if event[0] == kind:
                return event
            if event[0] == "disconnect" and kind != "disconnect":
                raise ConnectionError(f"disconnected while waiting for {kind}: {event[1]}")

    def connect(self) -> Any:
        """Connect and return the CONNACK reason code (a paho ReasonCode)."""
        self.client.connect("127.0.0.1", self.port, keepalive=60)
        self.client.loop_start()
        return self._wait("connack")[1]

    def subscribe(self, topic: str, qos: int = 0) -> list[int]:
        """Subscribe; returns the SUBACK reason codes as ints (0-2 granted, >= 0x80 refused)."""
        _, mid = self.client.subscribe(topic, qos)
        event = self._wait("suback")
        assert event[1] == mid
        return [int(rc.value) for rc in event[2]]

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if qos:
            info.wait_for_publish(timeout=TIMEOUT)
            assert info.is_published()

    def expect(self, topic: str, timeout: float = TIMEOUT) -> bytes:
        msg = self.messages.get(timeout=timeout)
        assert msg.topic == topic, (msg.topic, msg.payload)
        return msg.payload

    def expect_nothing(self, wait: float = 1.0) -> None:
        try:
            msg = self.messages.get(timeout=wait)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected message on {msg.topic}: {msg.payload!r}")

    def close(self) -> None:
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()


class CertCnProtocol(asyncio.Protocol):
    """Wraps the broker's connection protocol and fills ``ClientInfo.cert_cn`` from TLS.

    A stand-in for the hook the server's TLS listener will have (see the issue report): the
    broker core does not yet read the client certificate itself.
    """

    def __init__(self, inner: asyncio.Protocol) -> None:
        self.inner = inner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        from broker.transports.tls import peer_common_name

        self.inner.connection_made(transport)
        self.inner.conn.info.cert_cn = peer_common_name(transport)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class RunningBroker:
    """Our broker, plus WebSocket / TLS / WSS listeners made from this package's transports.

    ``tls``: a TlsOptions for the ``tls`` and ``wss`` listeners (None: plain tcp and ws only).
    All listeners bind 127.0.0.1 on free ports; ``ports`` maps listener name to port.
    """

    def __init__(self, *, policy: Any = None, tls: Any = None, **config: Any) -> None:
        self.policy = policy
        self.tls = tls
        self.config = config
        self.ports: dict[str, int] = {}
        self.broker: Any = None
        self._servers: list[asyncio.AbstractServer] = []

    async def start(self) -> RunningBroker:
        from broker import Broker, BrokerConfig
        from broker.transports.tls import server_context
        from broker.transports.websocket import start_websocket_server

        settings = {"host": "127.0.0.1", "port": 0, "sys_interval": 0, **self.config}
        self.broker = broker = Broker(BrokerConfig(policy=self.policy, **settings))
        await broker.start()
        self.ports["tcp"] = broker.port
        ws = await start_websocket_server(lambda: broker.protocol_factory("ws"), "127.0.0.1", 0)
        self._add("ws", ws)
        if self.tls is not None:
            context = server_context(self.tls)
            loop = asyncio.get_running_loop()
            tls = await loop.create_server(
                lambda: CertCnProtocol(broker.protocol_factory("tls")), "127.0.0.1", 0,
                ssl=context,
            )
            self._add("tls", tls)
            wss = await start_websocket_server(
                lambda: CertCnProtocol(broker.protocol_factory("wss")), "127.0.0.1", 0,
                ssl_context=context,
            )
            self._add("wss", wss)
        return self

    def _add(self, name: str, server: asyncio.AbstractServer) -> None:
        self._servers.append(server)
        self.ports[name] = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        await self.broker.stop()
        for server in self._servers:
            await server.wait_closed()
