"""Retained messages: set, replace, clear by empty payload, delivery on subscribe."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.pahoclient import PahoClient
from support.rawmqtt import RawClient

from broker.protocol.packets import Publish, SubscriptionOptions

Raw = Callable[..., RawClient]
Paho = Callable[..., PahoClient]


def nothing_more(sub: PahoClient, paho: Paho, marker: str) -> None:
    """Nothing else was on its way to ``sub`` (retained messages go out with the SUBACK):
    a message published now on ``marker``, a topic its subscription matches, is next."""
    paho(4).publish(marker, b"marker", 1)
    msg = sub.get()
    assert (msg.topic, msg.payload) == (marker, b"marker")


@pytest.mark.parametrize("version", [3, 4, 5])
def test_new_subscriber_gets_the_retained_message(paho: Paho, topic: str, version: int) -> None:
    """MQTT-3.3.1-5/6: the last retained message goes to new subscribers with RETAIN=1."""
    paho(version).publish(topic, b"21.4", 1, retain=True)
    sub = paho(version)
    sub.subscribe(topic, 1)
    msg = sub.get()
    assert (msg.payload, msg.retain, msg.qos) == (b"21.4", True, 1)
    nothing_more(sub, paho, topic)


@pytest.mark.parametrize("version", [3, 4])
def test_live_delivery_clears_retain_flag_in_v3(paho: Paho, topic: str, version: int) -> None:
    """MQTT-3.3.1-9: to an established subscription RETAIN is 0 whatever the publisher set."""
    sub = paho(version)
    sub.subscribe(topic, 0)
    paho(version).publish(topic, b"live", 0, retain=True)
    assert sub.get().retain is False


def test_replace_keeps_only_the_latest(paho: Paho, topic: str) -> None:
    pub = paho(4)
    for value in (b"1", b"2", b"3"):
        pub.publish(topic, value, 1, retain=True)
    sub = paho(4)
    sub.subscribe(topic, 1)
    assert sub.get().payload == b"3"
    nothing_more(sub, paho, topic)


def test_empty_payload_clears_and_is_delivered_to_current_subscribers(
    paho: Paho, topic: str
) -> None:
    """MQTT-3.3.1-10/11: a zero-byte retained PUBLISH removes the retained message; it is
    still forwarded to current subscribers as a normal message."""
    pub = paho(4)
    pub.publish(topic, b"on", 1, retain=True)
    current = paho(4)
    current.subscribe(topic, 1)
    assert current.get().payload == b"on"
    pub.publish(topic, b"", 1, retain=True)
    assert current.get().payload == b""
    later = paho(4)
    later.subscribe(topic, 1)
    nothing_more(later, paho, topic)


def test_qos0_retained_replaces(paho: Paho, topic: str) -> None:
    """MQTT-3.3.1-7 (3.1.1): a QoS 0 retained PUBLISH replaces the retained message."""
    pub = paho(4)
    pub.publish(topic, b"old", 2, retain=True)
    pub.publish(topic, b"new", 0, retain=True)
    sub = paho(4)
    sub.subscribe(topic, 2)
    msg = sub.get()
    assert (msg.payload, msg.qos) == (b"new", 0)


def test_retained_qos_is_capped_by_the_subscription(paho: Paho, topic: str) -> None:
    pub = paho(4)
    pub.publish(topic, b"q2", 2, retain=True)
    for granted in (0, 1, 2):
        sub = paho(4)
        sub.subscribe(topic, granted)
        assert sub.get().qos == granted


def test_wildcard_subscription_gets_every_matching_retained(paho: Paho, topic: str) -> None:
    pub = paho(5)
    topics = [f"{topic}/kitchen/temperature", f"{topic}/kitchen/humidity", f"{topic}/hall/motion"]
    for t in topics:
        pub.publish(t, t, 1, retain=True)
    pub.publish(f"{topic}/kitchen/light/set", b"ON", 1)  # not retained
    sub = paho(5)
    sub.subscribe(f"{topic}/+/temperature", 1)
    assert sub.get().topic == topics[0]
    nothing_more(sub, paho, f"{topic}/marker/temperature")
    sub2 = paho(5)
    sub2.subscribe(f"{topic}/#", 1)
    assert sorted(m.topic for m in sub2.get_all(3)) == sorted(topics)
    nothing_more(sub2, paho, f"{topic}/marker")


def test_resubscribe_sends_retained_again_in_311(connected: Raw, topic: str) -> None:
    """MQTT-3.8.4-3: a repeated SUBSCRIBE replaces the subscription and resends retained."""
    connected(4).publish(topic, b"r", 1, retain=True)
    c = connected(4)
    c.subscribe((topic, 1))
    assert c.receive().retain
    c.subscribe((topic, 1))
    p = c.receive()
    assert p.retain and p.payload == b"r"


def test_retained_flag_on_the_wire(connected: Raw, topic: str) -> None:
    """The RETAIN bit is the only difference between a stored and a live delivery."""
    connected(4).publish(topic, b"stored", 0, retain=True)
    c = connected(4)
    c.subscribe((topic, 0))
    assert c.receive() == Publish(topic, b"stored", 0, True)
    connected(4).publish(topic, b"live", 0, retain=True)
    assert c.receive() == Publish(topic, b"live", 0, False)


def test_retained_message_outlives_its_publisher(connected: Raw, topic: str) -> None:
    pub = connected(5)
    pub.publish(topic, b"kept", 2, retain=True)
    pub.disconnect()
    c = connected(5)
    c.subscribe((topic, SubscriptionOptions(2)))
    assert c.receive().payload == b"kept"
