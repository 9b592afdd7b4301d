"""The in-process API: Broker.publish and Broker.subscribe use the same router as the
network clients, with no socket in between (docs/contracts.md)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import pytest
from support.pahoclient import PahoClient, props
from support.rawmqtt import RawClient
from support.threadbroker import ThreadBroker

from broker import Message

Raw = Callable[..., RawClient]
Paho = Callable[..., PahoClient]


class Inbox:
    """A callback for Broker.subscribe that records messages and the thread it ran on."""

    def __init__(self) -> None:
        self.messages: queue.Queue[Message] = queue.Queue()
        self.threads: set[int] = set()

    def __call__(self, msg: Message) -> None:
        self.threads.add(threading.get_ident())
        self.messages.put(msg)

    def get(self, timeout: float = 10.0) -> Message:
        return self.messages.get(timeout=timeout)

    def empty_after(self, wait: float) -> bool:
        try:
            msg = self.messages.get(timeout=wait)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected {msg!r}")


@pytest.mark.parametrize("version", [4, 5])
def test_publish_reaches_network_subscribers(
    broker: ThreadBroker, connected: Raw, topic: str, version: int
) -> None:
    sub = connected(version)
    sub.subscribe((f"{topic}/#", 2))
    broker.call(broker.broker.publish, f"{topic}/temperature", "21.4", qos=1)
    broker.call(broker.broker.publish, f"{topic}/raw", b"\x00\x01", qos=2)
    first, second = sub.receive(), sub.receive()
    assert (first.topic, first.payload, first.qos) == (f"{topic}/temperature", b"21.4", 1)
    assert (second.payload, second.qos) == (b"\x00\x01", 2)


def test_retained_publish_and_properties(broker: ThreadBroker, connected: Raw, topic: str) -> None:
    broker.call(
        broker.broker.publish,
        topic,
        "on",
        qos=1,
        retain=True,
        properties={"content_type": "text/plain", "user_property": [("unit", "°C")]},
    )
    sub = connected(5)
    sub.subscribe((topic, 1))
    p = sub.receive()
    assert p.retain and p.payload == b"on"
    assert p.properties == {"content_type": "text/plain", "user_property": [("unit", "°C")]}


def test_publish_with_no_subscribers_does_not_raise(broker: ThreadBroker, topic: str) -> None:
    broker.call(broker.broker.publish, topic, b"nobody listens")


@pytest.mark.parametrize("bad", ["", "a/+", "a/#"])
def test_publish_to_an_invalid_topic_raises(broker: ThreadBroker, bad: str) -> None:
    with pytest.raises(ValueError):
        broker.call(broker.broker.publish, bad, b"x")


@pytest.mark.parametrize("version", [3, 4, 5])
def test_subscribe_callback_gets_network_publishes(
    broker: ThreadBroker, paho: Paho, topic: str, version: int
) -> None:
    inbox = Inbox()
    broker.call(broker.broker.subscribe, f"{topic}/+/set", inbox, qos=1)
    pub = paho(version)
    pub.publish(f"{topic}/relay/set", b"ON", 2)
    pub.publish(f"{topic}/relay/state", b"ignored", 1)
    msg = inbox.get()
    assert (msg.topic, msg.payload, msg.qos, msg.retain) == (f"{topic}/relay/set", b"ON", 1, False)
    assert inbox.empty_after(0.3)
    assert inbox.threads == {broker.thread.ident}  # called on the loop thread


def test_subscribe_gets_retained_first(broker: ThreadBroker, connected: Raw, topic: str) -> None:
    connected(4).publish(topic, b"stored", 1, retain=True)
    inbox = Inbox()
    broker.call(broker.broker.subscribe, topic, inbox, qos=2)
    msg = inbox.get()
    assert (msg.payload, msg.retain, msg.qos) == (b"stored", True, 1)


def test_subscribe_sees_mqtt5_properties(broker: ThreadBroker, paho: Paho, topic: str) -> None:
    inbox = Inbox()
    broker.call(broker.broker.subscribe, topic, inbox)
    paho(5).publish(
        topic,
        b"{}",
        1,
        properties=props(ContentType="application/json", UserProperty=[("a", "b")]),
    )
    msg = inbox.get()
    assert msg.properties["content_type"] == "application/json"
    assert msg.properties["user_property"] == [("a", "b")]


def test_cancel_stops_delivery(broker: ThreadBroker, connected: Raw, topic: str) -> None:
    inbox = Inbox()
    handle = broker.call(broker.broker.subscribe, topic, inbox)
    pub = connected(4)
    pub.publish(topic, b"1", 1)
    assert inbox.get().payload == b"1"
    broker.call(handle.cancel)
    pub.publish(topic, b"2", 1)
    assert inbox.empty_after(0.4)


def test_in_process_publish_reaches_in_process_subscriber(broker: ThreadBroker, topic: str) -> None:
    inbox = Inbox()
    broker.call(broker.broker.subscribe, f"{topic}/#", inbox)
    broker.call(broker.broker.publish, f"{topic}/x", "direct", qos=0)
    assert inbox.get().payload == b"direct"


def test_in_process_publish_obeys_no_wildcard_dollar_rule(broker: ThreadBroker) -> None:
    inbox = Inbox()
    broker.call(broker.broker.subscribe, "#", inbox)
    broker.call(broker.broker.publish, "$internal/x", "hidden")
    assert inbox.empty_after(0.3)


def test_invalid_filter_raises(broker: ThreadBroker) -> None:
    with pytest.raises(ValueError):
        broker.call(broker.broker.subscribe, "a/#/b", Inbox())
