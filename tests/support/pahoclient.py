"""paho-mqtt clients driven synchronously: connect, subscribe, publish, and a message queue."""

from __future__ import annotations

import itertools
import queue
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from support.ports import HOST

TIMEOUT = 10.0
VERSIONS = {3: mqtt.MQTTv31, 4: mqtt.MQTTv311, 5: mqtt.MQTTv5}


def props(packet_type: int = PacketTypes.PUBLISH, **values: Any) -> Properties:
    """paho Properties from keyword arguments (paho's CamelCase names)."""
    p = Properties(packet_type)
    for name, value in values.items():
        setattr(p, name, value)
    return p


class PahoClient:
    """A paho client on its own network thread, with blocking helpers for tests."""

    _ids = itertools.count(1)

    def __init__(
        self, port: int, version: int = 4, client_id: str | None = None, clean: bool = True
    ) -> None:
        self.port = port
        self.version = version
        self.clean = clean
        self.client_id = client_id if client_id is not None else f"paho-{next(self._ids)}"
        kwargs: dict[str, Any] = {}
        if version != 5:
            kwargs["clean_session"] = clean
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=VERSIONS[version],
            reconnect_on_failure=False,
            **kwargs,
        )
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._acks: dict[int, Any] = {}
        self._cond = threading.Condition()
        self.connack: tuple[Any, Any, Any] | None = None
        self.disconnected = threading.Event()
        self.disconnect_reason: Any = None
        c = self.client
        c.on_connect = self._on_connect
        c.on_subscribe = self._on_subscribe
        c.on_unsubscribe = self._on_subscribe
        c.on_message = lambda _c, _u, msg: self.messages.put(msg)
        c.on_disconnect = self._on_disconnect

    # --- callbacks (paho's network thread) ---------------------------------------------

    def _on_connect(self, _c: Any, _u: Any, flags: Any, reason: Any, properties: Any) -> None:
        with self._cond:
            self.connack = (flags, reason, properties)
            self._cond.notify_all()

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, reasons: Any, properties: Any) -> None:
        with self._cond:
            self._acks[mid] = reasons
            self._cond.notify_all()

    def _on_disconnect(self, _c: Any, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self.disconnect_reason = reason
        self.disconnected.set()

    def _wait(self, predicate: Any, what: str) -> None:
        with self._cond:
            if not self._cond.wait_for(predicate, TIMEOUT):
                raise TimeoutError(f"paho client {self.client_id}: no {what}")

    # --- blocking operations -----------------------------------------------------------

    def connect(
        self,
        keepalive: int = 60,
        properties: Properties | None = None,
        will: tuple[str, bytes, int, bool] | None = None,
        host: str = HOST,
    ) -> tuple[Any, Any, Any]:
        """Connect and wait for CONNACK; returns (flags, reason code, properties). Run it
        through ``lan.call`` (support.lan) to connect from the house network."""
        c = self.client
        if will is not None:
            c.will_set(*will)
        kwargs: dict[str, Any] = {"keepalive": keepalive}
        if self.version == 5:
            kwargs["clean_start"] = self.clean
            kwargs["properties"] = properties
        c.connect(host, self.port, **kwargs)
        c.loop_start()
        self._wait(lambda: self.connack is not None, "CONNACK")
        assert self.connack is not None
        return self.connack

    def subscribe(self, topic: str, qos: int = 0, **options: Any) -> list[int]:
        """Subscribe and wait for SUBACK; returns the reason codes as ints.

        ``options`` (5.0 only): no_local, retain_as_published, retain_handling, and
        properties (paho Properties, e.g. a SubscriptionIdentifier).
        """
        properties = options.pop("properties", None)
        if self.version == 5:
            opts = SubscribeOptions(qos=qos, **options)
            result, mid = self.client.subscribe(topic, options=opts, properties=properties)
        else:
            result, mid = self.client.subscribe(topic, qos)
        assert result == mqtt.MQTT_ERR_SUCCESS
        self._wait(lambda: mid in self._acks, "SUBACK")
        return [getattr(rc, "value", rc) for rc in self._acks.pop(mid)]

    def unsubscribe(self, topic: str) -> None:
        result, mid = self.client.unsubscribe(topic)
        assert result == mqtt.MQTT_ERR_SUCCESS
        self._wait(lambda: mid in self._acks, "UNSUBACK")
        self._acks.pop(mid)

    def publish(
        self,
        topic: str,
        payload: bytes | str = b"",
        qos: int = 0,
        retain: bool = False,
        properties: Properties | None = None,
    ) -> None:
        """Publish and wait until paho has finished its side of the QoS exchange."""
        info = self.client.publish(topic, payload, qos, retain, properties)
        info.wait_for_publish(TIMEOUT)
        assert info.is_published(), f"publish to {topic} not completed"

    def get(self, timeout: float = TIMEOUT) -> mqtt.MQTTMessage:
        """The next message received; fails the test after ``timeout``."""
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"paho client {self.client_id}: no message") from None

    def get_all(self, n: int, timeout: float = TIMEOUT) -> list[mqtt.MQTTMessage]:
        deadline = time.monotonic() + timeout
        return [self.get(max(0.1, deadline - time.monotonic())) for _ in range(n)]

    def none(self, wait: float = 0.5) -> None:
        """Assert that no message arrives within ``wait`` seconds."""
        try:
            msg = self.messages.get(timeout=wait)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected message on {msg.topic}: {msg.payload!r}")

    def disconnect(self) -> None:
        if self.client.is_connected():
            self.client.disconnect()
            self.disconnected.wait(TIMEOUT)
        self.client.loop_stop()
