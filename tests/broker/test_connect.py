"""CONNECT: protocol versions, client ids, clean session / clean start, session present,
takeover, keepalive (1.5x) and server keep alive, session expiry, CONNECT timeout."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from support.pahoclient import PahoClient
from support.rawmqtt import RawClient
from support.threadbroker import ThreadBroker
from support.wait import wait_until

from broker.protocol.packets import (
    Connack,
    Connect,
    Disconnect,
    Pingreq,
    Pingresp,
    Publish,
    Subscribe,
    SubscriptionOptions,
)

Raw = Callable[..., RawClient]
Paho = Callable[..., PahoClient]


# --- protocol versions -------------------------------------------------------------------


@pytest.mark.parametrize("version", [3, 4, 5])
def test_each_version_connects_and_exchanges_messages(paho: Paho, topic: str, version: int) -> None:
    """MQTT 3.1, 3.1.1 and 5.0 on one listener, chosen per connection by CONNECT."""
    sub = paho(version)
    flags, reason, _ = sub.connack
    assert reason == 0
    assert sub.subscribe(topic, 1) == [1]
    pub = paho(version)
    pub.publish(topic, b"hello", 1)
    msg = sub.get()
    assert (msg.topic, msg.payload, msg.qos) == (topic, b"hello", 1)


def test_versions_interoperate(paho: Paho, topic: str) -> None:
    subs = [paho(v) for v in (3, 4, 5)]
    for s in subs:
        s.subscribe(topic, 0)
    for v in (3, 4, 5):
        paho(v).publish(topic, f"from {v}", 0)
    for s in subs:
        assert sorted(m.payload for m in s.get_all(3)) == [b"from 3", b"from 4", b"from 5"]


def test_mqisdp_raw_client(raw: Raw, topic: str) -> None:
    """MQTT 3.1: protocol name MQIsdp, level 3."""
    c = raw(3)
    ack = c.connect("mqisdp-client")
    assert ack == Connack(False, 0)
    assert c.subscribe((topic, 2)).reason_codes == [2]
    c.publish(topic, b"x", 2)
    p = c.receive()
    assert (p.topic, p.payload, p.qos) == (topic, b"x", 2)


@pytest.mark.parametrize("level, expected", [(6, 0x84), (2, 0x01)])
def test_unsupported_protocol_level_is_refused_then_closed(
    raw: Raw, level: int, expected: int
) -> None:
    """MQTT-3.1.2-2: unacceptable protocol level -> CONNACK 0x01 (3.1.1) / 0x84 (5.0), close."""
    c = raw(5 if level > 5 else 4)
    body = b"\x00\x04MQTT" + bytes((level, 0x02)) + b"\x00\x3c\x00\x01c"
    c.send_raw(bytes((0x10, len(body))) + body)
    packets = c.closed()
    assert len(packets) == 1 and isinstance(packets[0], Connack)
    assert packets[0].reason_code == expected


def test_unknown_protocol_name_is_closed_without_connack(raw: Raw) -> None:
    """MQTT-3.1.2-1: a protocol name other than MQTT / MQIsdp."""
    c = raw()
    body = b"\x00\x04HTTP\x04\x02\x00\x3c\x00\x01c"
    c.send_raw(bytes((0x10, len(body))) + body)
    assert c.closed() == []


@pytest.mark.parametrize(
    "first",
    [Publish("a", b"x"), Subscribe(1, [("a", SubscriptionOptions())]), Pingreq(), Disconnect()],
)
def test_first_packet_must_be_connect(raw: Raw, first: object) -> None:
    """MQTT-3.1.0-1: anything before CONNECT closes the connection."""
    c = raw()
    c.send(first)  # type: ignore[arg-type]
    assert c.closed() == []


@pytest.mark.parametrize("version", [4, 5])
def test_second_connect_is_a_protocol_violation(raw: Raw, version: int) -> None:
    """MQTT-3.1.0-2: a second CONNECT closes the connection (5.0: DISCONNECT 0x82)."""
    c = raw(version)
    c.connect()
    c.send(Connect(version, "again"))
    if version == 5:
        c.closed_with(0x82)
    else:
        assert c.closed() == []


def test_connack_of_mqtt5_announces_limits(raw: Raw, broker: ThreadBroker) -> None:
    c = raw(5)
    props = c.connect("limits").properties
    assert props["receive_maximum"] == broker.config.receive_maximum
    assert props["topic_alias_maximum"] == broker.config.topic_alias_maximum
    assert props["maximum_packet_size"] == broker.config.max_packet_size
    assert "assigned_client_identifier" not in props


# --- client identifiers ----------------------------------------------------------------


def test_zero_length_client_id_with_clean_session_gets_an_id(raw: Raw, topic: str) -> None:
    """MQTT-3.1.3-6: 3.1.1 accepts an empty id with CleanSession=1."""
    c = raw(4)
    assert c.connect("", clean=True).reason_code == 0
    c.subscribe((topic, 1))
    c.publish(topic, b"x", 1)
    assert c.receive().payload == b"x"


def test_zero_length_client_id_without_clean_session_is_rejected(raw: Raw) -> None:
    """MQTT-3.1.3-8: CleanSession=0 with an empty id -> CONNACK 0x02, then close."""
    c = raw(4)
    ack = c.connect("", clean=False, expect_success=False)
    assert ack == Connack(False, 0x02)
    assert c.closed() == []


def test_zero_length_client_id_in_mqtt31_is_rejected(raw: Raw) -> None:
    """MQTT 3.1 requires 1-23 characters: identifier rejected (0x02)."""
    c = raw(3)
    assert c.connect("", expect_success=False).reason_code == 0x02
    assert c.closed() == []


@pytest.mark.parametrize("clean", [True, False])
def test_mqtt5_assigns_a_client_identifier(raw: Raw, clean: bool) -> None:
    """MQTT-3.1.3-7 / MQTT-3.2.2-16: the assigned id comes back in CONNACK and is unique."""
    ids = []
    for _ in range(2):
        c = raw(5)
        props = c.connect("", clean=clean).properties
        ids.append(props["assigned_client_identifier"])
    assert all(ids) and ids[0] != ids[1]


def test_long_and_unicode_client_ids_are_accepted(raw: Raw) -> None:
    """MQTT-3.1.3-5 lets a server accept more than 23 characters; we take any UTF-8 id."""
    for cid in ("x" * 1000, "kitchen-sensor-ünïcode-☃"):
        raw(4).connect(cid)


# --- clean session, clean start, session present ------------------------------------------


def test_clean_session_discards_state(raw: Raw, connected: Raw, topic: str) -> None:
    """MQTT-3.1.2-6 / MQTT-3.2.2-1,2,3: session present follows the stored session."""
    cid = "persist-311"
    a = raw(4)
    assert not a.connect(cid, clean=False).session_present
    a.subscribe((topic, 1))
    a.disconnect()
    b = raw(4)
    assert b.connect(cid, clean=False).session_present
    b.disconnect()
    c = raw(4)
    assert not c.connect(cid, clean=True).session_present
    c.disconnect()
    # CleanSession=1 ended the session at disconnect: nothing to resume, and no subscription.
    d = raw(4)
    assert not d.connect(cid, clean=False).session_present
    connected(4).publish(topic, b"lost", 1)
    d.silent(0.5)


def test_persistent_session_keeps_subscriptions_and_queues_qos1(raw: Raw, topic: str) -> None:
    """MQTT-3.1.2-4/5: subscriptions and QoS 1/2 messages survive the connection."""
    a = raw(4)
    a.connect("keeper", clean=False)
    a.subscribe((topic, 1), (topic + "/2", 2))
    a.disconnect()
    pub = raw(4)
    pub.connect()
    pub.publish(topic, b"one", 1)
    pub.publish(topic + "/2", b"two", 2)
    b = raw(4)
    assert b.connect("keeper", clean=False).session_present
    got = [b.receive(), b.receive()]
    assert [(p.topic, p.payload, p.qos) for p in got] == [
        (topic, b"one", 1),
        (topic + "/2", b"two", 2),
    ]


def test_mqtt5_clean_start_with_session_expiry(raw: Raw, topic: str) -> None:
    """MQTT-3.1.2-4,5 / 3.1.2-23: session kept for its expiry interval, discarded by clean start."""
    cid = "expiring-5"
    a = raw(5)
    a.connect(cid, clean=True, properties={"session_expiry_interval": 60})
    a.subscribe((topic, 1))
    a.disconnect()
    b = raw(5)
    assert b.connect(cid, clean=False).session_present
    b.disconnect()
    c = raw(5)
    assert not c.connect(cid, clean=True).session_present


def test_mqtt5_session_expiry_zero_ends_session_at_disconnect(raw: Raw) -> None:
    a = raw(5)
    a.connect("gone-at-once", clean=False)  # no expiry interval: 0
    a.disconnect()
    assert not raw(5).connect("gone-at-once", clean=False).session_present


def test_mqtt5_session_expires_after_its_interval(
    broker: ThreadBroker, raw: Raw, topic: str
) -> None:
    """MQTT-3.1.2-23: the session is deleted once the interval has passed. End to end over
    TCP with the broker's own timer; to the tenth of a second: tests/engine/test_expiry.py."""
    a = raw(5)
    a.connect("short-lived", clean=True, properties={"session_expiry_interval": 1})
    a.subscribe((topic, 1))
    a.disconnect()
    sessions = broker.broker.engine.sessions
    wait_until(lambda: broker.call(lambda: "short-lived" not in sessions), what="expiry")
    assert not raw(5).connect("short-lived", clean=False).session_present


def test_mqtt5_disconnect_can_shorten_session_expiry(raw: Raw) -> None:
    """MQTT 5.0 3.14.2.2.2: a DISCONNECT may change a non-zero interval, here to 0."""
    a = raw(5)
    a.connect("shorten", properties={"session_expiry_interval": 300})
    a.disconnect(0, {"session_expiry_interval": 0})
    assert not raw(5).connect("shorten", clean=False).session_present


def test_mqtt5_disconnect_cannot_raise_expiry_from_zero(raw: Raw) -> None:
    """MQTT-3.14.2-2: non-zero expiry at DISCONNECT after 0 at CONNECT is a protocol error."""
    a = raw(5)
    a.connect("raise-expiry")
    a.send(Disconnect(0, {"session_expiry_interval": 30}))
    a.closed_with(0x82)


def test_max_session_expiry_is_enforced_and_announced(make_broker, raw: Raw) -> None:
    b = make_broker(max_session_expiry=5)
    c = raw(5, port=b.port)
    props = c.connect("capped", properties={"session_expiry_interval": 3600}).properties
    assert props["session_expiry_interval"] == 5


# --- takeover ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", [4, 5])
def test_same_client_id_takes_the_session_over(
    raw: Raw, connected: Raw, topic: str, version: int
) -> None:
    """MQTT-3.1.4-3: the existing connection is closed (5.0: DISCONNECT 0x8E first)."""
    old = raw(version)
    old.connect(
        "twin", clean=False, properties={"session_expiry_interval": 60} if version == 5 else None
    )
    old.subscribe((topic, 1))
    new = raw(version)
    assert new.connect("twin", clean=False).session_present
    if version == 5:
        old.closed_with(0x8E)
    else:
        assert old.closed() == []
    connected(version).publish(topic, b"to the new one", 1)
    assert new.receive().payload == b"to the new one"


def test_takeover_with_paho(paho: Paho, topic: str) -> None:
    first = paho(5, client_id="paho-twin")
    second = paho(5, client_id="paho-twin")
    assert first.disconnected.wait(10)
    assert first.disconnect_reason == 0x8E
    second.subscribe(topic, 0)
    second.publish(topic, b"still here", 0)
    assert second.get().payload == b"still here"


# --- keepalive ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", [4, 5])
def test_silent_client_is_closed_after_one_and_a_half_keepalives(raw: Raw, version: int) -> None:
    """MQTT-3.1.2-24 (3.1.1: MQTT-3.1.2-24 as well): no packet for 1.5 x keepalive -> close.

    A client with keepalive 0 on the same broker is left alone meanwhile. End to end over
    TCP; pings, Server Keep Alive and 3.1.1's own keepalive: tests/engine/test_keepalive.py.
    """
    forever = raw(version)
    forever.connect(keepalive=0)
    silent = raw(version)
    start = time.monotonic()
    silent.connect(keepalive=1)
    if version == 5:
        silent.closed_with(0x8D)
    else:
        assert silent.closed() == []
    assert time.monotonic() - start >= 1.4  # not before 1.5 x keepalive (less clock slack)
    forever.send(Pingreq())
    forever.expect(Pingresp)


def test_connection_without_connect_is_closed(make_broker, raw: Raw) -> None:
    """MQTT 3.1.1 section 3.1.4: a server closes a connection that does not send CONNECT."""
    b = make_broker(connect_timeout=1)
    c = raw(4, port=b.port)
    assert c.closed(timeout=10) == []


def test_mqtt5_password_without_user_name(raw: Raw) -> None:
    """MQTT 5.0 3.1.2.9 allows a password without a user name (3.1.1 did not)."""
    c = raw(5)
    assert c.connect(password=b"token").reason_code == 0


def test_mqtt5_refusal_carries_a_reason_string(raw: Raw) -> None:
    c = raw(5)
    ack = c.connect(properties={"authentication_method": "X"}, expect_success=False)
    assert ack.reason_code == 0x8C and ack.properties.get("reason_string")
