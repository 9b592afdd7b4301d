"""A paho client that records every message under some topic filters, for end-to-end tests
that watch what nodes and the gateway publish."""

from __future__ import annotations

import threading
from collections.abc import Callable

import paho.mqtt.client as mqtt


class Watcher:
    """Subscribes to ``filters`` on a broker's TCP port and keeps (topic, payload, retain)."""

    def __init__(self, port: int, filters: tuple[str, ...] = ("home/#",),
                 client_id: str = "e2e-watch") -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_connect = lambda c, u, f, rc, p: [c.subscribe(t, qos=1) for t in filters]
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg) -> None:
        with self._lock:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))

    def payloads(self, topic: str) -> list[bytes]:
        """Every payload seen on ``topic``, oldest first."""
        with self._lock:
            return [p for t, p, _ in self.messages if t == topic]

    def last(self, topic: str) -> bytes | None:
        """The latest payload on ``topic``, or None."""
        seen = self.payloads(topic)
        return seen[-1] if seen else None

    def shows(self, topic: str, payload: bytes) -> Callable[[], bool]:
        """A check for wait-until polling: ``payload`` is the latest on ``topic``."""
        return lambda: self.last(topic) == payload

    def count(self, topic: str, payload: bytes) -> int:
        """How often ``payload`` arrived on ``topic``."""
        return self.payloads(topic).count(payload)

    def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        """Publishes at QoS 1 and waits until the broker has it."""
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(30)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
