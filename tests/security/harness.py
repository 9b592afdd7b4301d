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
        host: str = "127.0.0.1",
        clean_session: bool | None = None,
    ) -> None:
        self.port = port
        self.host = host
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._events: queue.Queue[tuple] = queue.Queue()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"t-{uuid.uuid4().hex[:10]}",
            protocol=protocol,
            transport=transport,
            reconnect_on_failure=False,
            clean_session=clean_session,
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

    def connect(self, lan: Any = None, host: str | None = None) -> Any:
        """Connect and return the CONNACK reason code (a paho ReasonCode).

        ``lan`` (a support.lan.Lan): connect from its namespace, to ``host`` (default: the
        rig's host address).
        """
        if lan is None:
            self.client.connect(host or self.host, self.port, keepalive=60)
        else:
            lan.call(self.client.connect, host or lan.host_ip, self.port, 60)
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


class RunningBroker:
    """Our broker with real listeners from its configuration, all on 127.0.0.1, free ports.

    ``listeners``: ListenerConfig keyword dicts (``name`` required, ``port`` defaults to 0).
    Without it: ``tcp`` and ``ws``, plus ``tls`` and ``wss`` when ``tls`` (a dict of the
    listener TLS keys: certfile, keyfile, cafile, ...) is given. ``policy`` (optional)
    replaces the per-listener policies. ``ports`` maps listener name to bound port.
    """

    def __init__(
        self,
        *,
        policy: Any = None,
        tls: dict | None = None,
        listeners: list[dict] | None = None,
        **config: Any,
    ) -> None:
        if listeners is None:
            listeners = [{"name": "tcp", "kind": "tcp"}, {"name": "ws", "kind": "ws"}]
            if tls is not None:
                listeners += [
                    {"name": "tls", "kind": "tls", **tls},
                    {"name": "wss", "kind": "wss", **tls},
                ]
        self.listeners = [{"host": "127.0.0.1", "port": 0, **lc} for lc in listeners]
        self.policy = policy
        self.config = config
        self.ports: dict[str, int] = {}
        self.broker: Any = None

    async def start(self) -> RunningBroker:
        from broker import Broker, BrokerConfig

        settings = {"sys_interval": 0, **self.config}
        self.broker = Broker(
            BrokerConfig(policy=self.policy, listeners=self.listeners, **settings)
        )
        await self.broker.start()
        self.ports = dict(self.broker.ports)
        return self

    async def stop(self) -> None:
        await self.broker.stop()
