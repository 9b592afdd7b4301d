"""MQTT 5.0 features: properties and reason codes, topic aliases both ways, subscription
identifiers, no-local, retain-as-published, retain handling, shared subscriptions, message
expiry, receive maximum both ways, maximum packet size, request/response, user properties,
payload format and content type, reason strings, AUTH, DISCONNECT reasons."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from paho.mqtt.packettypes import PacketTypes
from support.pahoclient import PahoClient, props
from support.rawmqtt import Closed, RawClient

from broker.protocol import encode
from broker.protocol.packets import (
    Auth,
    Disconnect,
    Puback,
    Publish,
    Pubrec,
    Pubrel,
    Subscribe,
    SubscriptionOptions,
    Will,
)

Raw = Callable[..., RawClient]
Paho = Callable[..., PahoClient]


# --- reason codes on acknowledgements ---------------------------------------------------------


def test_puback_reason_no_matching_subscribers(connected: Raw, topic: str) -> None:
    """MQTT 5.0 3.4.2.1: 0x10 when nobody is subscribed, 0x00 otherwise."""
    c = connected(5)
    assert c.publish(topic, b"x", 1).reason_code == 0x10  # type: ignore[union-attr]
    c.subscribe((topic, 0))
    assert c.publish(topic, b"x", 1).reason_code == 0x00  # type: ignore[union-attr]


def test_pubrec_reason_no_matching_subscribers(connected: Raw, topic: str) -> None:
    c = connected(5)
    c.send(Publish(topic, b"x", 2, packet_id=5))
    assert c.expect(Pubrec).reason_code == 0x10


# --- topic aliases ----------------------------------------------------------------------------


def test_topic_alias_from_client(connected: Raw, topic: str) -> None:
    """MQTT-3.3.2-12: an alias set with a topic is then used with an empty topic name."""
    sub = connected(5)
    sub.subscribe((f"{topic}/#", 0))
    c = connected(5)
    c.publish(f"{topic}/one", b"1", 1, properties={"topic_alias": 1})
    c.publish("", b"2", 1, properties={"topic_alias": 1})
    c.publish(f"{topic}/two", b"3", 1, properties={"topic_alias": 1})  # re-map alias 1
    c.publish("", b"4", 1, properties={"topic_alias": 1})
    got = [(p.topic, p.payload) for p in (sub.receive() for _ in range(4))]
    assert got == [
        (f"{topic}/one", b"1"),
        (f"{topic}/one", b"2"),
        (f"{topic}/two", b"3"),
        (f"{topic}/two", b"4"),
    ]


@pytest.mark.parametrize("alias", [0, 65])
def test_topic_alias_out_of_range(connected: Raw, topic: str, alias: int) -> None:
    """MQTT-3.3.2-7/8: alias 0 or above our Topic Alias Maximum (64) -> DISCONNECT 0x94."""
    c = connected(5)
    c.send(Publish(topic, b"x", 0, properties={"topic_alias": alias}))
    c.closed_with(0x94)


def test_unknown_topic_alias_is_a_protocol_error(connected: Raw) -> None:
    c = connected(5)
    c.send(Publish("", b"x", 0, properties={"topic_alias": 3}))
    c.closed_with(0x82)


def test_topic_aliases_are_per_connection(connected: Raw, topic: str) -> None:
    a = connected(5)
    a.publish(topic, b"x", 0, properties={"topic_alias": 2})
    b = connected(5)
    b.send(Publish("", b"x", 0, properties={"topic_alias": 2}))
    b.closed_with(0x82)


def test_topic_alias_to_client(connected: Raw, topic: str) -> None:
    """MQTT 5.0 3.3.2.3.4: with the client's Topic Alias Maximum 2 the broker may map topics
    to aliases 1..2 and then send an empty topic name; it never exceeds the maximum."""
    sub = connected(5, properties={"topic_alias_maximum": 2})
    sub.subscribe((f"{topic}/#", 0))
    pub = connected(5)
    names = [f"{topic}/{n}" for n in ("a", "b", "c", "a", "b", "c", "a")]
    for n in names:
        pub.publish(n, n.encode(), 0)
    aliases: dict[int, str] = {}
    for n in names:
        p = sub.receive()
        alias = p.properties.get("topic_alias")
        if alias is not None:
            assert 1 <= alias <= 2
            if p.topic:
                aliases[alias] = p.topic
            resolved = aliases[alias]
        else:
            resolved = p.topic
        assert resolved == n and p.payload == n.encode()
    assert aliases  # the broker did use aliases


def test_no_topic_alias_to_a_client_that_allows_none(connected: Raw, topic: str) -> None:
    """MQTT-3.3.2-9: no Topic Alias Maximum from the client -> no aliases sent to it."""
    sub = connected(5)
    sub.subscribe((topic, 0))
    pub = connected(5)
    for _ in range(3):
        pub.publish(topic, b"x", 0)
    for _ in range(3):
        p = sub.receive()
        assert p.topic == topic and "topic_alias" not in p.properties


def test_paho_topic_alias_roundtrip(paho: Paho, topic: str) -> None:
    # paho sends aliases but does not resolve incoming ones: its subscriber allows none.
    sub = paho(5)
    sub.subscribe(topic, 1)
    pub = paho(5)
    pub.publish(topic, b"1", 1, properties=props(TopicAlias=1))
    pub.publish("", b"2", 1, properties=props(TopicAlias=1))
    got = sub.get_all(2)
    assert [(m.topic, m.payload) for m in got] == [(topic, b"1"), (topic, b"2")]


# --- subscription identifiers ------------------------------------------------------------------


def test_subscription_identifier_on_delivery_and_retained(connected: Raw, topic: str) -> None:
    """MQTT-3.8.2-? / 3.3.4-3: the identifier comes back with live and retained messages;
    a new SUBSCRIBE replaces it."""
    connected(5).publish(topic, b"retained", 1, retain=True)
    sub = connected(5)
    sub.subscribe((topic, 1), properties={"subscription_identifier": [268_435_455]})
    assert sub.receive().properties["subscription_identifier"] == [268_435_455]
    sub.subscribe(
        (topic, SubscriptionOptions(1, retain_handling=2)),
        properties={"subscription_identifier": [42]},
    )
    connected(5).publish(topic, b"live", 1)
    p = sub.receive()
    assert (p.payload, p.properties["subscription_identifier"]) == (b"live", [42])
    sub.subscribe((topic, SubscriptionOptions(1, retain_handling=2)))  # without identifier
    connected(5).publish(topic, b"plain", 1)
    assert "subscription_identifier" not in sub.receive().properties


def test_subscription_identifier_zero_is_a_protocol_error(connected: Raw) -> None:
    c = connected(5)
    body = b"\x00\x01\x02\x0b\x00\x00\x01a\x00"
    c.send_raw(bytes((0x82, len(body))) + body)
    c.closed_with(0x82)


def test_connack_does_not_deny_what_the_broker_supports(raw: Raw) -> None:
    """MQTT 5.0 3.2.2.3: absent means available; a feature we support is never said 0
    (retain, wildcards, subscription identifiers, shared subscriptions, QoS 2)."""
    ack = raw(5).connect()
    for name in (
        "retain_available",
        "wildcard_subscription_available",
        "subscription_identifier_available",
        "shared_subscription_available",
    ):
        assert ack.properties.get(name, 1) == 1, name
    assert "maximum_qos" not in ack.properties


def test_paho_subscription_identifier(paho: Paho, topic: str) -> None:
    sub = paho(5)
    sub.subscribe(topic, 1, properties=props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=9))
    paho(5).publish(topic, b"x", 1)
    assert sub.get().properties.SubscriptionIdentifier == [9]


# --- subscription options ------------------------------------------------------------------


def test_no_local(connected: Raw, topic: str) -> None:
    """MQTT-3.8.3-3: with No Local the publisher does not receive its own messages."""
    me = connected(5)
    me.subscribe((topic, SubscriptionOptions(1, no_local=True)))
    other = connected(5)
    other.subscribe((topic, 1))
    me.publish(topic, b"mine", 1)
    assert other.receive().payload == b"mine"
    me.silent(0.5)
    other.publish(topic, b"theirs", 1)
    assert me.receive().payload == b"theirs"


def test_no_local_on_shared_subscription_is_a_protocol_error(connected: Raw, topic: str) -> None:
    """MQTT-3.8.3-4."""
    c = connected(5)
    c.send(Subscribe(1, [(f"$share/g/{topic}", SubscriptionOptions(0, no_local=True))]))
    c.closed_with(0x82)


@pytest.mark.parametrize("rap", [False, True])
def test_retain_as_published(connected: Raw, topic: str, rap: bool) -> None:
    """MQTT-3.3.1-12/13: RETAIN on forwarded messages follows Retain As Published."""
    sub = connected(5)
    sub.subscribe((topic, SubscriptionOptions(0, retain_as_published=rap)))
    connected(5).publish(topic, b"r", 0, retain=True)
    assert sub.receive().retain is rap
    connected(5).publish(topic, b"n", 0, retain=False)
    assert sub.receive().retain is False


def test_retained_message_on_subscribe_is_flagged_whatever_rap(connected: Raw, topic: str) -> None:
    connected(5).publish(topic, b"r", 0, retain=True)
    sub = connected(5)
    sub.subscribe((topic, SubscriptionOptions(0, retain_as_published=False)))
    assert sub.receive().retain is True


def test_retain_handling(connected: Raw, topic: str) -> None:
    """MQTT-3.3.1-9/10/11: 0 sends retained on every SUBSCRIBE, 1 only for a new
    subscription, 2 never."""
    connected(5).publish(topic, b"r", 1, retain=True)
    c0 = connected(5)
    for _ in range(2):
        c0.subscribe((topic, SubscriptionOptions(1, retain_handling=0)))
        assert c0.receive().payload == b"r"
    c1 = connected(5)
    c1.subscribe((topic, SubscriptionOptions(1, retain_handling=1)))
    assert c1.receive().payload == b"r"
    c1.subscribe((topic, SubscriptionOptions(1, retain_handling=1)))
    c1.silent(0.4)
    c2 = connected(5)
    c2.subscribe((topic, SubscriptionOptions(1, retain_handling=2)))
    c2.silent(0.4)


def test_paho_subscription_options(paho: Paho, topic: str) -> None:
    me = paho(5)
    me.subscribe(topic, 1, noLocal=True, retainAsPublished=True)
    other = paho(5)
    other.publish(topic, b"r", 1, retain=True)
    msg = me.get()
    assert (msg.payload, msg.retain) == (b"r", True)
    me.publish(topic, b"self", 1)
    me.none(0.5)


# --- shared subscriptions ------------------------------------------------------------------


def test_shared_subscription_distributes_each_message_once(connected: Raw, topic: str) -> None:
    """MQTT 5.0 4.8.2: each message goes to one member of the group; a plain subscriber
    and another group get their own copies."""
    members = [connected(5) for _ in range(3)]
    for m in members:
        assert m.subscribe((f"$share/workers/{topic}/+", 1)).reason_codes == [1]
    other_group = connected(5)
    other_group.subscribe((f"$share/audit/{topic}/#", 1))
    plain = connected(5)
    plain.subscribe((f"{topic}/+", 1))
    pub = connected(5)
    n = 30
    for i in range(n):
        pub.publish(f"{topic}/job", str(i).encode(), 1)
    assert sorted(int(plain.receive().payload) for _ in range(n)) == list(range(n))
    assert sorted(int(other_group.receive().payload) for _ in range(n)) == list(range(n))
    seen: list[int] = []
    counts = []
    for m in members:
        got = []
        while True:
            try:
                got.append(int(m.receive(timeout=0.5).payload))
            except TimeoutError:
                break
        counts.append(len(got))
        seen.extend(got)
    assert sorted(seen) == list(range(n))
    assert all(counts), counts  # every connected member took a share


def test_shared_subscription_gets_no_retained_messages(connected: Raw, topic: str) -> None:
    """MQTT-3.8.4-? (5.0 4.8.2): retained messages are not sent to a shared subscription."""
    connected(5).publish(topic, b"r", 1, retain=True)
    c = connected(5)
    c.subscribe((f"$share/g/{topic}", 1))
    c.silent(0.5)


def test_shared_subscription_skips_disconnected_members(
    raw: Raw, connected: Raw, topic: str
) -> None:
    gone = raw(5)
    gone.connect("shared-gone", properties={"session_expiry_interval": 60})
    gone.subscribe((f"$share/g/{topic}", 1))
    gone.disconnect()
    here = connected(5)
    here.subscribe((f"$share/g/{topic}", 1))
    pub = connected(5)
    for i in range(6):
        pub.publish(topic, str(i).encode(), 1)
    assert sorted(int(here.receive().payload) for _ in range(6)) == list(range(6))


@pytest.mark.parametrize(
    "bad", ["$share/g", "$share//x", "$share/g+/x", "$share/#/x", "$share/g/a/#/b"]
)
def test_malformed_shared_filters(connected: Raw, bad: str) -> None:
    c = connected(5)
    assert c.subscribe((bad, 0)).reason_codes == [0x8F]


def test_unsubscribe_shared(connected: Raw, topic: str) -> None:
    c = connected(5)
    c.subscribe((f"$share/g/{topic}", 1))
    assert c.unsubscribe(f"$share/g/{topic}").reason_codes == [0]
    connected(5).publish(topic, b"x", 1)
    c.silent(0.4)


# --- message expiry ------------------------------------------------------------------------


def test_message_expiry_interval_counts_down(raw: Raw, connected: Raw, topic: str) -> None:
    """MQTT-3.3.2-6: the interval sent on is the received one minus the time waited. End to
    end over TCP; expired queued and retained messages: tests/engine/test_expiry.py."""
    a = raw(5)
    a.connect("expiry-reader", properties={"session_expiry_interval": 60})
    a.subscribe((topic, 1))
    a.disconnect()
    connected(5).publish(topic, b"x", 1, properties={"message_expiry_interval": 100})
    time.sleep(1.2)
    b = raw(5)
    b.connect("expiry-reader", clean=False)
    p = b.receive()
    assert 1 <= p.properties["message_expiry_interval"] < 100


# --- receive maximum and maximum packet size ------------------------------------------------


def test_broker_respects_client_receive_maximum(connected: Raw, topic: str) -> None:
    """MQTT-3.3.4-9: no more unacknowledged QoS 1/2 PUBLISHes than the client's maximum."""
    sub = connected(5, properties={"receive_maximum": 2})
    sub.subscribe((topic, 2))
    pub = connected(5)
    for i in range(6):
        pub.publish(topic, str(i).encode(), 1 + i % 2)
    first = [sub.receive(ack=False) for _ in range(2)]
    sub.silent(0.5)
    got = []
    for p in first:
        sub.ack(p)
    while len(got) < 4:
        p = sub.receive(ack=False)
        got.append(p)
        sub.ack(p)
    assert [int(p.payload) for p in first + got] == list(range(6))


def test_qos0_not_limited_by_receive_maximum(connected: Raw, topic: str) -> None:
    sub = connected(5, properties={"receive_maximum": 1})
    sub.subscribe((topic, 1))
    pub = connected(5)
    pub.publish(topic, b"q1", 1)
    held = sub.receive(ack=False)
    assert held.qos == 1
    sub.unsubscribe(topic)
    sub.subscribe((topic, 0))
    pub.publish(topic, b"q0", 0)
    assert sub.receive().payload == b"q0"


def test_client_exceeding_broker_receive_maximum(make_broker, connected: Raw, topic: str) -> None:
    """MQTT-3.3.4-8: more unacknowledged QoS 2 PUBLISHes than announced -> DISCONNECT 0x93."""
    b = make_broker(receive_maximum=2)
    c = connected(5, port=b.port)
    for pid in (1, 2, 3):
        c.send(Publish(topic, b"x", 2, packet_id=pid))
    disconnect = c.closed_with(0x93)
    assert disconnect.reason_code == 0x93


def test_packet_above_broker_maximum_is_refused(make_broker, connected: Raw, topic: str) -> None:
    """MQTT-3.2.2-? / 4.13: a packet larger than our Maximum Packet Size -> DISCONNECT 0x95."""
    b = make_broker(max_packet_size=200)
    c = connected(5, port=b.port)
    c.publish(topic, b"x" * 100, 0)  # fits
    c.send(Publish(topic, b"x" * 300))
    c.closed_with(0x95)


def test_broker_respects_client_maximum_packet_size(connected: Raw, topic: str) -> None:
    """MQTT-3.1.2-24/25: messages too large for the client are not sent (discarded)."""
    sub = connected(5, properties={"maximum_packet_size": 64})
    sub.subscribe((topic, 1))
    pub = connected(5)
    pub.publish(topic, b"x" * 200, 1)
    pub.publish(topic, b"small", 1)
    assert sub.receive().payload == b"small"
    sub.silent(0.3)


# --- properties forwarded ----------------------------------------------------------------------


def test_request_response_properties_forwarded(connected: Raw, topic: str) -> None:
    """MQTT-3.3.2-15/16: Response Topic and Correlation Data unaltered."""
    sub = connected(5)
    sub.subscribe((topic, 1))
    connected(5).publish(
        topic,
        b"ping",
        1,
        properties={"response_topic": f"{topic}/reply", "correlation_data": b"\x00id\xff"},
    )
    p = sub.receive()
    assert p.properties["response_topic"] == f"{topic}/reply"
    assert p.properties["correlation_data"] == b"\x00id\xff"


def test_user_properties_forwarded_in_order(connected: Raw, topic: str) -> None:
    """MQTT-3.3.2-17/18: User Properties unaltered, order kept, duplicates allowed."""
    sub = connected(5)
    sub.subscribe((topic, 1))
    pairs = [("b", "2"), ("a", "1"), ("b", "3"), ("ü", "☃")]
    connected(5).publish(topic, b"x", 1, properties={"user_property": pairs})
    assert sub.receive().properties["user_property"] == pairs


def test_payload_format_and_content_type_forwarded(connected: Raw, topic: str) -> None:
    """MQTT-3.3.2-4 / 3.3.2-20: Payload Format Indicator and Content Type unaltered."""
    sub = connected(5)
    sub.subscribe((topic, 1))
    connected(5).publish(
        topic,
        "21.4 °C".encode(),
        1,
        properties={"payload_format_indicator": 1, "content_type": "text/plain"},
    )
    p = sub.receive()
    assert p.properties == {"payload_format_indicator": 1, "content_type": "text/plain"}


def test_payload_format_invalid(connected: Raw, topic: str) -> None:
    """MQTT 5.0 3.3.2.3.2: format 1 with a non-UTF-8 payload -> PUBACK 0x99, not forwarded."""
    sub = connected(5)
    sub.subscribe((topic, 1))
    c = connected(5)
    ack = c.publish(topic, b"\xff\xfe", 1, properties={"payload_format_indicator": 1})
    assert ack.reason_code == 0x99  # type: ignore[union-attr]
    sub.silent(0.4)


def test_per_hop_properties_are_not_forwarded(connected: Raw, topic: str) -> None:
    sub = connected(5)
    sub.subscribe((topic, 1))
    connected(5).publish(topic, b"x", 1, properties={"topic_alias": 3})
    assert sub.receive().properties == {}


def test_paho_properties_roundtrip(paho: Paho, topic: str) -> None:
    sub = paho(5)
    sub.subscribe(topic, 2)
    p = props(
        ResponseTopic=f"{topic}/r",
        CorrelationData=b"cd",
        UserProperty=[("k", "v")],
        ContentType="application/json",
        PayloadFormatIndicator=1,
    )
    paho(5).publish(topic, b"{}", 2, properties=p)
    got = sub.get().properties
    assert got.ResponseTopic == f"{topic}/r"
    assert got.CorrelationData == b"cd"
    assert got.UserProperty == [("k", "v")]
    assert got.ContentType == "application/json"
    assert got.PayloadFormatIndicator == 1


# --- reason strings, AUTH, DISCONNECT -----------------------------------------------------------


def test_server_disconnect_has_reason_string(connected: Raw) -> None:
    c = connected(5)
    c.send(Publish("a/+", b"x"))
    assert c.closed_with(0x90).properties.get("reason_string")


def test_no_reason_string_when_problem_information_is_not_wanted(connected: Raw) -> None:
    """MQTT-3.1.2-29: Request Problem Information 0 -> no Reason String beyond CONNACK /
    DISCONNECT (and we leave it off those too)."""
    c = connected(5, properties={"request_problem_information": 0})
    c.send(Publish("a/+", b"x"))
    assert "reason_string" not in c.closed_with(0x90).properties


def test_connect_with_authentication_method_is_refused(raw: Raw) -> None:
    """MQTT 5.0 4.12: enhanced authentication not supported -> CONNACK 0x8C, close."""
    c = raw(5)
    ack = c.connect(properties={"authentication_method": "SCRAM-SHA-1"}, expect_success=False)
    assert ack.reason_code == 0x8C
    assert c.closed() == []


def test_auth_packet_without_method_is_a_protocol_error(connected: Raw) -> None:
    """MQTT-4.12.0-? : AUTH when no authentication method was agreed -> DISCONNECT 0x82."""
    c = connected(5)
    c.send(Auth(0x19))
    c.closed_with(0x82)


def test_client_disconnect_reasons_accepted(connected: Raw, topic: str) -> None:
    """MQTT 5.0 3.14.2.1: any DISCONNECT reason closes quietly (the server answers nothing);
    MQTT-3.14.4-3: only 0x00 discards the will, every other reason publishes it."""
    watcher = connected(5)
    watcher.subscribe(f"{topic}/#")
    for code in (0x00, 0x04, 0x80, 0x83, 0x90):
        c = connected(5, will=Will(f"{topic}/{code:02x}", b"gone", 0, False))
        c.send(Disconnect(code, {"reason_string": "bye", "user_property": [("a", "b")]}))
        assert c.closed() == [], f"reason 0x{code:02x}"
        c.close()
    # Each close was handled before this marker: any will published is ahead of it.
    connected(5).publish(f"{topic}/end", b"")
    wills = [f"{topic}/{code:02x}" for code in (0x04, 0x80, 0x83, 0x90)]
    assert [watcher.receive().topic for _ in range(5)] == [*wills, f"{topic}/end"]


def test_publish_ack_reason_strings_absent_by_default(connected: Raw, topic: str) -> None:
    c = connected(5)
    c.send(Publish(topic, b"x", 1, packet_id=3))
    assert c.expect(Puback).properties == {}


def test_publish_from_client_with_subscription_identifier_is_a_protocol_error(
    connected: Raw, topic: str
) -> None:
    """MQTT-3.3.4-6: a PUBLISH sent to the server must not carry a Subscription Identifier."""
    sub = connected(5)
    sub.subscribe((topic, 0))
    c = connected(5)
    c.send(Publish(topic, b"x", 1, packet_id=1, properties={"subscription_identifier": [3]}))
    c.closed_with(0x82)
    sub.silent(0.3)


@pytest.mark.parametrize("bad", ["reply/+", "reply/#", ""])
def test_response_topic_must_be_a_topic_name(connected: Raw, topic: str, bad: str) -> None:
    """MQTT-3.3.2-13/14: the Response Topic is a Topic Name: no wildcards, not empty."""
    c = connected(5)
    c.send(Publish(topic, b"x", 1, packet_id=1, properties={"response_topic": bad}))
    c.closed_with(0x82)


def test_disconnect_reason_reaches_a_client_that_keeps_sending(
    make_broker, connected: Raw, topic: str
) -> None:
    """The server's DISCONNECT must survive the close even when the client's later packets
    are still unread (closing with unread input makes TCP reset the connection, and the
    reset discards the DISCONNECT at the client). Seen in the paho interoperability suite's
    flow-control test: the client publishes past Receive Maximum, then acknowledges."""
    b = make_broker(receive_maximum=2)
    c = connected(5, port=b.port)
    burst = b"".join(encode(Publish(topic, b"x" * 1000, 2, packet_id=i), 5) for i in range(1, 400))
    c.send_raw(burst)
    packets = []
    try:
        while True:
            packets.append(c.recv())
            if isinstance(packets[-1], Pubrec):
                c.send(Pubrel(packets[-1].packet_id))  # as a client does on each PUBREC
    except (Closed, OSError):
        pass
    assert packets and packets[-1] == Disconnect(0x93, packets[-1].properties), packets[-3:]


def test_topic_alias_not_spent_on_a_message_too_large_to_send(connected: Raw, topic: str) -> None:
    """MQTT-3.1.2-25 with MQTT-3.3.2-? : a PUBLISH dropped for the client's Maximum Packet
    Size never reached it, so the next one on that topic must still carry the topic name
    (an alias the client never saw would be a protocol error at the client)."""
    sub = connected(5, properties={"topic_alias_maximum": 5, "maximum_packet_size": 200})
    sub.subscribe((topic, 1))
    pub = connected(5)
    pub.publish(topic, b"x" * 500, 1)  # too large for the subscriber: discarded
    pub.publish(topic, b"small", 1)
    p = sub.receive()
    assert p.payload == b"small"
    assert p.topic == topic  # the alias (if any) is set up by this very packet
