"""Topic names and filters: validation, matching, `$` topics, overlapping subscriptions."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.pahoclient import PahoClient
from support.rawmqtt import RawClient
from support.threadbroker import ThreadBroker

from broker.protocol.packets import Publish, SubscriptionOptions

Raw = Callable[..., RawClient]
Paho = Callable[..., PahoClient]

INVALID_FILTERS = ["a/#/b", "a/b#", "a+/b", "a/+b", "#/a", "", "a/##", "++"]


@pytest.mark.parametrize("version, failure", [(4, 0x80), (5, 0x8F)])
def test_invalid_filters_are_refused_per_filter(
    connected: Raw, topic: str, version: int, failure: int
) -> None:
    """MQTT-4.7.1-1/2/3: wildcards must fill whole levels, # only last. Each bad filter gets
    a failure code (0x80 / 0x8F) while valid ones in the same SUBSCRIBE are granted."""
    c = connected(version)
    filters = [(f, 1) for f in INVALID_FILTERS] + [(f"{topic}/+/x/#", 1)]
    ack = c.subscribe(*filters)
    assert ack.reason_codes == [failure] * len(INVALID_FILTERS) + [1]
    c.publish(f"{topic}/a/x/y", b"ok", 1)
    assert c.receive().payload == b"ok"


@pytest.mark.parametrize("name", ["a/+", "a/#", "+", "#", "a/b+"])
def test_wildcards_in_a_topic_name_close_the_connection(connected: Raw, name: str) -> None:
    """MQTT-3.3.2-2 / MQTT-4.7.1-1: a PUBLISH topic must not contain wildcards."""
    c = connected(4)
    c.send(Publish(name, b"x"))
    assert c.closed() == []


def test_wildcards_in_a_topic_name_mqtt5_reason(connected: Raw) -> None:
    c = connected(5)
    c.send(Publish("a/#", b"x", 1, packet_id=1))
    c.closed_with(0x90)


@pytest.mark.parametrize(
    "body",
    [
        b"\x00\x03a\x00b",  # U+0000
        b"\x00\x02\xc3\x28",  # ill-formed UTF-8
        b"\x00\x03\xed\xa0\x80",  # UTF-16 surrogate encoded in UTF-8
        b"\x00\x05\xf8\x88\x80\x80\x80",  # 5-byte sequence
    ],
)
@pytest.mark.parametrize("version", [4, 5])
def test_bad_utf8_topic_is_malformed(connected: Raw, body: bytes, version: int) -> None:
    """MQTT-1.5.4-1/2 (3.1.1: MQTT-1.5.3-1/2): ill-formed UTF-8 or U+0000 -> close (0x81)."""
    c = connected(version)
    c.send_raw(bytes((0x30, len(body))) + body)
    if version == 5:
        c.closed_with(0x81)
    else:
        assert c.closed() == []


def test_bad_utf8_filter_is_malformed(connected: Raw) -> None:
    c = connected(5)
    body = b"\x00\x01\x00" + b"\x00\x02\xc3\x28\x01"
    c.send_raw(bytes((0x82, len(body))) + body)
    c.closed_with(0x81)


def test_empty_topic_name_is_refused(connected: Raw) -> None:
    """MQTT-4.7.3-1: topic names are at least one character (5.0 without alias: 0x82)."""
    c4 = connected(4)
    c4.send(Publish("", b"x"))
    assert c4.closed() == []
    c5 = connected(5)
    c5.send(Publish("", b"x"))
    c5.closed_with(0x82)


MATCHES = [
    # (filter, topic, matches) -- MQTT 5.0 section 4.7 examples
    ("sport/tennis/player1/#", "sport/tennis/player1", True),
    ("sport/tennis/player1/#", "sport/tennis/player1/ranking", True),
    ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", True),
    ("sport/#", "sport", True),
    ("#", "sport/tennis", True),
    ("sport/tennis/+", "sport/tennis/player1", True),
    ("sport/tennis/+", "sport/tennis/player1/ranking", False),
    ("sport/+", "sport", False),
    ("sport/+", "sport/", True),
    ("+/+", "/finance", True),
    ("/+", "/finance", True),
    ("+", "/finance", False),
    ("+/tennis/#", "sport/tennis/x", True),
    ("a//c", "a//c", True),
    ("a/+/c", "a//c", True),
    ("ACCOUNTS", "Accounts", False),
    ("with space/x", "with space/x", True),
    ("ü/☃", "ü/☃", True),
]


@pytest.mark.parametrize("version", [4, 5])
def test_filter_matching(connected: Raw, topic: str, version: int) -> None:
    """MQTT 4.7: level separators, + and # semantics, case sensitivity, empty levels."""
    for i, (filt, name, should) in enumerate(MATCHES):
        prefix = f"{topic}/{i}/"
        sub = connected(version)
        sub.subscribe((prefix + filt, 0))
        connected(version).publish(prefix + name, b"m", 1)
        if should:
            assert sub.receive().topic == prefix + name, (filt, name)
        else:
            sub.silent(0.2)


def test_dollar_topics_do_not_match_leading_wildcards(make_broker, connected: Raw) -> None:
    """MQTT-4.7.2-1: # and + at the first level do not match topics starting with $."""
    b: ThreadBroker = make_broker()
    every = connected(5, port=b.port)
    every.subscribe(("#", 0), ("+/info", 0), ("+/+/x", 0))
    explicit = connected(5, port=b.port)
    explicit.subscribe(("$internal/#", 0), ("$internal/+", 0))
    pub = connected(5, port=b.port)
    pub.publish("$internal/info", b"d", 1)
    pub.publish("$internal/a/x", b"d", 1, retain=True)
    assert explicit.receive().topic == "$internal/info"
    assert explicit.receive().topic == "$internal/a/x"
    every.silent(0.5)
    # Retained $ messages are not sent to a new leading-wildcard subscription either.
    late = connected(5, port=b.port)
    late.subscribe(("#", 0), ("+/a/+", 0))
    late.silent(0.5)


def test_sys_topics_not_matched_by_hash(make_broker, connected: Raw) -> None:
    b = make_broker(sys_interval=1)
    every = connected(4, port=b.port)
    every.subscribe(("#", 0))
    sys = connected(4, port=b.port)
    sys.subscribe(("$SYS/#", 0))
    assert sys.receive().topic.startswith("$SYS/broker/")
    every.silent(1.5)


# --- overlapping subscriptions -----------------------------------------------------------


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("pub_qos", [0, 1, 2])
def test_overlapping_subscriptions_deliver_once_at_maximum_qos(
    connected: Raw, topic: str, version: int, pub_qos: int
) -> None:
    """MQTT-3.3.5-1: one copy, at the highest QoS of the matching subscriptions (capped by
    the PUBLISH's QoS). Mosquitto sends one copy per subscription."""
    sub = connected(version)
    sub.subscribe((f"{topic}/+", 0), (f"{topic}/#", 2), (f"{topic}/x", 1))
    connected(version).publish(f"{topic}/x", b"once", pub_qos)
    p = sub.receive()
    assert (p.payload, p.qos) == (b"once", pub_qos)
    sub.silent(0.5)


@pytest.mark.parametrize("version", [4, 5])
def test_overlapping_subscriptions_with_paho(paho: Paho, topic: str, version: int) -> None:
    sub = paho(version)
    sub.subscribe(f"{topic}/#", 1)
    sub.subscribe(f"{topic}/+/temp", 2)
    sub.subscribe(f"{topic}/kitchen/temp", 0)
    paho(version).publish(f"{topic}/kitchen/temp", b"21", 2)
    msg = sub.get()
    assert (msg.payload, msg.qos) == (b"21", 2)
    sub.none(0.5)


def test_overlapping_subscriptions_list_every_identifier(connected: Raw, topic: str) -> None:
    """MQTT-3.3.4-3/4/5: one PUBLISH carrying the identifiers of all matching subscriptions."""
    sub = connected(5)
    sub.subscribe((f"{topic}/#", 1), properties={"subscription_identifier": [7]})
    sub.subscribe((f"{topic}/+", 2), properties={"subscription_identifier": [300]})
    sub.subscribe((f"{topic}/a", 0))  # no identifier
    connected(5).publish(f"{topic}/a", b"x", 2)
    p = sub.receive()
    assert p.qos == 2
    assert sorted(p.properties["subscription_identifier"]) == [7, 300]
    sub.silent(0.5)


def test_resubscribe_replaces_instead_of_adding(connected: Raw, topic: str) -> None:
    """MQTT-3.8.4-3: the same filter again replaces the subscription (new QoS, one copy)."""
    sub = connected(4)
    sub.subscribe((topic, 0))
    assert sub.subscribe((topic, 2)).reason_codes == [2]
    connected(4).publish(topic, b"x", 2)
    assert sub.receive().qos == 2
    sub.silent(0.5)


def test_subscribe_many_filters_one_suback_in_order(connected: Raw, topic: str) -> None:
    """MQTT-3.8.4-4/5: one return code per filter, in request order."""
    c = connected(5)
    filters = [(f"{topic}/{i}", SubscriptionOptions(i % 3)) for i in range(20)]
    assert c.subscribe(*filters).reason_codes == [i % 3 for i in range(20)]


@pytest.mark.parametrize("version", [4, 5])
def test_unsubscribe_stops_delivery(connected: Raw, topic: str, version: int) -> None:
    """MQTT-3.10.4-1..6: UNSUBACK always; 5.0 reason 0x00 / 0x11 per filter."""
    c = connected(version)
    c.subscribe((f"{topic}/a", 1), (f"{topic}/b", 1))
    ack = c.unsubscribe(f"{topic}/a", f"{topic}/never")
    if version == 5:
        assert ack.reason_codes == [0x00, 0x11]
    else:
        assert ack.reason_codes == []
    pub = connected(version)
    pub.publish(f"{topic}/a", b"gone", 1)
    pub.publish(f"{topic}/b", b"kept", 1)
    assert c.receive().payload == b"kept"
    c.silent(0.3)


def test_long_topics_and_many_levels(connected: Raw, topic: str) -> None:
    long_topic = f"{topic}/" + "/".join(["level"] * 2000)
    huge = f"{topic}/" + "x" * 60000
    c = connected(5)
    c.subscribe((f"{topic}/#", 1))
    c.publish(long_topic, b"deep", 1)
    c.publish(huge, b"wide", 1)
    assert c.receive().topic == long_topic
    assert c.receive().topic == huge
