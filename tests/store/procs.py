"""Our broker as the store tests run it, and recording paho clients.

Shared by tests/store and tests/bridge (imported as ``store.procs``: pytest puts tests/ on
sys.path for these packages). The servers themselves live in support.processes.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from support import processes
from support.ports import free_port
from support.wait import wait_until

# free_port and wait_until are support's, named here too for the tests that import them
# from here.
__all__ = ["OurBroker", "Publisher", "Recorder", "free_port", "register", "wait_until"]

TIMEOUT = 90.0  # generous: the machine is shared and loaded


class OurBroker(processes.OurBroker):
    """``python -m broker`` as these tests run it: no $SYS, info log, asyncio's own loop."""

    def __init__(self, port: int, log_path: Path, args: Sequence[str] = ()) -> None:
        defaults = ["--sys-interval", "0", "--log-level", "info", "--no-uvloop"]
        super().__init__(port, log_path, [*defaults, *args])


class Recorder:
    """A paho client (thread-driven) that records every message it gets, in order."""

    def __init__(self, port: int, client_id: str, clean: bool = False, version: int = 4) -> None:
        self.received: list[tuple[str, bytes, int]] = []
        self.lock = threading.Lock()
        protocol = mqtt.MQTTv5 if version == 5 else mqtt.MQTTv311
        kwargs = {} if version == 5 else {"clean_session": clean}
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol, **kwargs
        )
        self.client.max_inflight_messages_set(20)
        self.client.reconnect_delay_set(0.1, 1.0)
        self.client.on_message = self._on_message
        self.connected = threading.Event()
        self.client.on_connect = lambda *a: self.connected.set()
        self.client.on_disconnect = lambda *a: self.connected.clear()
        self._subacked: set[int] = set()
        self._suback = threading.Condition()
        self.client.on_subscribe = self._on_subscribe
        self.port = port
        self.version = version
        self.clean = clean

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.received.append((msg.topic, msg.payload, msg.qos))

    def start(self) -> Recorder:
        if self.version == 5:
            # 5.0's persistent session: clean start off and a session expiry interval.
            props = None
            if not self.clean:
                props = Properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = 3600
            self.client.connect_async(
                "127.0.0.1", self.port, keepalive=30, clean_start=self.clean, properties=props
            )
        else:
            self.client.connect_async("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        if not self.connected.wait(TIMEOUT):
            raise AssertionError("client did not connect")
        return self

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int, *rest: object) -> None:
        with self._suback:
            self._subacked.add(mid)
            self._suback.notify_all()

    def subscribe(self, topic_filter: str, qos: int) -> None:
        """SUBSCRIBE and wait for the SUBACK."""
        _, mid = self.client.subscribe(topic_filter, qos)
        with self._suback:
            if not self._suback.wait_for(lambda: mid in self._subacked, TIMEOUT):
                raise AssertionError(f"no SUBACK for {topic_filter}")

    def payloads(self) -> list[bytes]:
        with self.lock:
            return [p for _, p, _ in self.received]

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def register(port: int, client_id: str, topic_filter: str, qos: int) -> None:
    """Leave a persistent session subscribed to ``topic_filter``, its client disconnected."""
    sub = Recorder(port, client_id).start()
    sub.subscribe(topic_filter, qos)
    sub.stop()


def keep_owed_pubrels(client: mqtt.Client) -> None:
    """Work around a paho-mqtt 2.2 bug that breaks QoS 2 across reconnects.

    Each reconnect attempt resets the states of unfinished messages: one whose PUBREL was
    sent becomes "resend PUBREL". A second attempt before a CONNACK (the first refused, the
    broker still restarting) takes that state for "not sent" and makes it "send PUBLISH",
    so paho sends the PUBLISH again, with DUP clear, after its PUBREL (MQTT-4.3.3 forbids
    it): the broker has released that packet id, rightly takes a new message, and the
    subscriber gets it twice. Here a message owed a PUBREL keeps that state.
    """
    reset_out = client._messages_reconnect_reset_out

    def reset_keeping_pubrels() -> None:
        with client._out_message_mutex:
            owed = [m for m in client._out_messages.values()
                    if m.qos == 2 and m.state == mqtt.mqtt_ms_resend_pubrel]
            reset_out()
            for m in owed:
                m.state = mqtt.mqtt_ms_resend_pubrel

    client._messages_reconnect_reset_out = reset_keeping_pubrels  # type: ignore[method-assign]


class Publisher(Recorder):
    """A recording client that also publishes and tells which messages were acknowledged."""

    def __init__(self, port: int, client_id: str, clean: bool = False, version: int = 4) -> None:
        super().__init__(port, client_id, clean, version)
        if not clean:
            keep_owed_pubrels(self.client)
        self.sent: list[tuple[bytes, mqtt.MQTTMessageInfo]] = []
        #: Message ids whose PUBACK/PUBREC refused the message (a 5.0 reason code >= 0x80).
        self.refused_mids: set[int] = set()
        self.client.on_publish = self._on_publish

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, rc: Any, *_: Any) -> None:
        if rc.is_failure:
            with self.lock:
                self.refused_mids.add(mid)

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool = False) -> None:
        self.sent.append((payload, self.client.publish(topic, payload, qos, retain)))

    def acked(self) -> set[bytes]:
        """Payloads whose PUBACK (QoS 1) or PUBCOMP (QoS 2) arrived and accepted them."""
        with self.lock:
            refused = set(self.refused_mids)
        return {p for p, info in self.sent if _published(info) and info.mid not in refused}

    def refused(self) -> list[bytes]:
        """Payloads the broker answered with a failure reason code (5.0 only)."""
        with self.lock:
            refused = set(self.refused_mids)
        return [p for p, info in self.sent if info.mid in refused]

    def all_acked(self) -> bool:
        """Every publish answered (accepted or, in 5.0, refused)."""
        return all(_published(info) for _, info in self.sent)


def _published(info: mqtt.MQTTMessageInfo) -> bool:
    # is_published() raises for a message queued while disconnected (rc NO_CONN), although
    # paho sends it after reconnecting and marks it published on its PUBACK/PUBCOMP.
    with info._condition:
        return info._published
