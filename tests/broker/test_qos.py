"""QoS 0, 1 and 2 in both directions: packet-id state machines, redelivery with DUP on
session resume, exactly-once for QoS 2, and message order per topic."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.pahoclient import PahoClient
from support.rawmqtt import RawClient

from broker.protocol.packets import Puback, Pubcomp, Publish, Pubrec, Pubrel

Raw = Callable[..., RawClient]
Paho = Callable[..., PahoClient]


@pytest.mark.parametrize("version", [4, 5])
def test_delivered_qos_is_the_minimum_of_publish_and_subscription(
    paho: Paho, topic: str, version: int
) -> None:
    """MQTT-3.8.4-6 (3.1.1: MQTT-3.8.4-6): granted QoS caps the delivery QoS."""
    sub = paho(version)
    for sq in (0, 1, 2):
        assert sub.subscribe(f"{topic}/{sq}", sq) == [sq]
    pub = paho(version)
    for sq in (0, 1, 2):
        for pq in (0, 1, 2):
            pub.publish(f"{topic}/{sq}", f"{pq}", pq)
    got = {(m.topic, m.payload): m.qos for m in sub.get_all(9)}
    for sq in (0, 1, 2):
        for pq in (0, 1, 2):
            assert got[(f"{topic}/{sq}", str(pq).encode())] == min(sq, pq)
    sub.none(0.3)


@pytest.mark.parametrize("version", [3, 4, 5])
def test_qos1_publish_is_acknowledged_with_its_packet_id(
    connected: Raw, topic: str, version: int
) -> None:
    """MQTT-4.3.2-2 / MQTT-2.3.1-6: PUBACK carries the PUBLISH's packet identifier."""
    c = connected(version)
    c.send(Publish(topic, b"x", 1, packet_id=4242))
    assert c.expect(Puback).packet_id == 4242


@pytest.mark.parametrize("version", [4, 5])
def test_acks_are_sent_in_the_order_publishes_arrived(
    connected: Raw, topic: str, version: int
) -> None:
    """MQTT-4.6.0-2/3: PUBACK and PUBREC in the order the PUBLISHes were received."""
    c = connected(version)
    ids = [9, 3, 700, 1, 65535, 12]
    for i, pid in enumerate(ids):
        c.send(Publish(topic, b"x", 1 + i % 2, packet_id=pid))
    acks = [c.recv() for _ in ids]
    assert [a.packet_id for a in acks] == ids
    assert [type(a) for a in acks] == [Puback, Pubrec] * 3


@pytest.mark.parametrize("version", [4, 5])
def test_qos2_inbound_exactly_once(connected: Raw, topic: str, version: int) -> None:
    """MQTT-4.3.3-2..: PUBREC; a DUP retransmission before PUBREL is not delivered again;
    PUBREL -> PUBCOMP; after PUBCOMP the identifier starts a new message."""
    sub = connected(version)
    sub.subscribe((topic, 2))
    c = connected(version)
    c.send(Publish(topic, b"once", 2, packet_id=77))
    assert c.expect(Pubrec).packet_id == 77
    c.send(Publish(topic, b"once", 2, dup=True, packet_id=77))
    assert c.expect(Pubrec).packet_id == 77
    assert sub.receive().payload == b"once"
    sub.silent(0.5)
    c.send(Pubrel(77))
    assert c.expect(Pubcomp) == Pubcomp(77)
    # A PUBREL repeated after PUBCOMP is still answered (the sender may not have seen it).
    c.send(Pubrel(77))
    comp = c.expect(Pubcomp)
    assert comp.packet_id == 77
    if version == 5:
        assert comp.reason_code == 0x92  # packet identifier not found
    c.send(Publish(topic, b"again", 2, packet_id=77))
    c.expect(Pubrec)
    c.send(Pubrel(77))
    c.expect(Pubcomp)
    assert sub.receive().payload == b"again"


def resume(raw: Raw, version: int, client_id: str) -> RawClient:
    """Connect with CleanSession=0 / Clean Start=0 (5.0: with a session that outlives the
    connection); ``connack.session_present`` tells whether state was resumed."""
    c = raw(version)
    props = {"session_expiry_interval": 60} if version == 5 else None
    c.connect(client_id, clean=False, properties=props)
    return c


def in_flight(raw: Raw, connected: Raw, version: int, client_id: str, topic: str, qos: int):
    """A persistent subscriber holding one unacknowledged message; returns (client, PUBLISH)."""
    a = resume(raw, version, client_id)
    a.subscribe((topic, qos))
    connected(version).publish(topic, b"in flight", qos)
    first = a.receive(ack=False)
    assert (first.qos, first.dup) == (qos, False)
    return a, first


@pytest.mark.parametrize("version", [4, 5])
def test_qos1_outbound_redelivered_with_dup_on_resume(
    raw: Raw, connected: Raw, topic: str, version: int
) -> None:
    """MQTT-4.4.0-1 / MQTT-3.3.1-1: unacknowledged PUBLISH resent with DUP=1, same packet id."""
    a, first = in_flight(raw, connected, version, "redeliver-1", topic, 1)
    a.close()
    b = resume(raw, version, "redeliver-1")
    again = b.receive(ack=False)
    assert (again.payload, again.packet_id, again.dup) == (b"in flight", first.packet_id, True)
    b.send(Puback(again.packet_id))
    b.silent(0.3)
    b.close()
    c = resume(raw, version, "redeliver-1")
    assert c.connack is not None and c.connack.session_present
    c.silent(0.5)  # acknowledged: never again


@pytest.mark.parametrize("version", [4, 5])
def test_qos2_outbound_resume_before_pubrec_resends_publish(
    raw: Raw, connected: Raw, topic: str, version: int
) -> None:
    a, first = in_flight(raw, connected, version, "redeliver-2a", topic, 2)
    a.close()
    b = resume(raw, version, "redeliver-2a")
    again = b.receive(ack=False)
    assert (again.payload, again.packet_id, again.dup, again.qos) == (
        b"in flight",
        first.packet_id,
        True,
        2,
    )
    b.ack(again)
    b.silent(0.3)


@pytest.mark.parametrize("version", [4, 5])
def test_qos2_outbound_resume_after_pubrec_resends_pubrel(
    raw: Raw, connected: Raw, topic: str, version: int
) -> None:
    """MQTT-4.4.0-1: after PUBREC the broker resends PUBREL, never the PUBLISH."""
    a, p = in_flight(raw, connected, version, "redeliver-2b", topic, 2)
    a.send(Pubrec(p.packet_id))
    assert a.expect(Pubrel).packet_id == p.packet_id
    a.close()
    b = resume(raw, version, "redeliver-2b")
    assert b.expect(Pubrel).packet_id == p.packet_id
    b.send(Pubcomp(p.packet_id))
    b.silent(0.3)
    b.close()
    c = resume(raw, version, "redeliver-2b")
    assert c.connack is not None and c.connack.session_present
    c.silent(0.5)


def test_pubrec_with_error_ends_the_exchange(connected: Raw, topic: str) -> None:
    """MQTT 5.0 4.3.3: a PUBREC reason code >= 0x80 completes the QoS 2 flow without PUBREL."""
    a = connected(5)
    a.subscribe((topic, 2))
    connected(5).publish(topic, b"refused", 2)
    p = a.receive(ack=False)
    a.send(Pubrec(p.packet_id, 0x80))
    a.silent(0.5)


def test_unknown_ack_identifiers_do_not_disturb(connected: Raw, topic: str) -> None:
    """Acks for identifiers not in flight: PUBREL -> PUBCOMP 0x92; PUBACK/PUBCOMP ignored."""
    c = connected(5)
    c.send(Puback(999))
    c.send(Pubcomp(998))
    c.send(Pubrec(997))
    rel = c.expect(Pubrel)
    assert (rel.packet_id, rel.reason_code) == (997, 0x92)
    c.send(Pubrel(996))
    comp = c.expect(Pubcomp)
    assert (comp.packet_id, comp.reason_code) == (996, 0x92)
    c.subscribe((topic, 1))
    c.publish(topic, b"still fine", 1)
    assert c.receive().payload == b"still fine"


def test_packet_ids_in_flight_are_distinct_and_nonzero(connected: Raw, topic: str) -> None:
    """MQTT-2.3.1-1/2: each unacknowledged outgoing PUBLISH has its own non-zero identifier."""
    sub = connected(4)
    sub.subscribe((topic, 2))
    pub = connected(4)
    for i in range(30):
        pub.publish(topic, str(i).encode(), 1 + i % 2)
    got = [sub.receive(ack=False) for _ in range(30)]
    ids = [p.packet_id for p in got]
    assert 0 not in ids and len(set(ids)) == 30


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_order_is_kept_per_topic(paho: Paho, topic: str, version: int, qos: int) -> None:
    """MQTT-4.6.0-5/6: messages of one topic arrive in the order they were published."""
    sub = paho(version)
    sub.subscribe(topic, 2)
    pub = paho(version)
    n = 100
    infos = [pub.client.publish(topic, str(i), qos) for i in range(n)]
    for info in infos:
        info.wait_for_publish(10)
    got = [int(m.payload) for m in sub.get_all(n)]
    assert got == list(range(n))


def test_wire_order_is_kept_across_mixed_qos(connected: Raw, topic: str) -> None:
    """The PUBLISH packets leave the broker in publish order whatever their QoS."""
    sub = connected(5)
    sub.subscribe((topic, 2))
    pub = connected(5)
    for i in range(60):
        pub.send(Publish(topic, str(i).encode(), i % 3, packet_id=i + 1 if i % 3 else 0))
    got = [sub.receive() for _ in range(60)]
    assert [int(p.payload) for p in got] == list(range(60))
    assert [p.qos for p in got] == [i % 3 for i in range(60)]


def test_order_is_kept_across_an_offline_queue(raw: Raw, connected: Raw, topic: str) -> None:
    """Messages queued while the subscriber was away arrive in publish order after
    the in-flight ones were resent."""
    a = raw(4)
    a.connect("queued-order", clean=False)
    a.subscribe((topic, 1))
    pub = connected(4)
    pub.publish(topic, b"0", 1)
    a.receive(ack=False)
    a.close()
    for i in range(1, 40):
        pub.publish(topic, str(i).encode(), 1)
    b = raw(4)
    b.connect("queued-order", clean=False)
    got = [int(b.receive().payload) for _ in range(40)]
    assert got == list(range(40))


def test_qos0_not_acknowledged_and_delivered(connected: Raw, topic: str) -> None:
    """MQTT-4.3.1: QoS 0 has no acknowledgement and no packet identifier."""
    c = connected(5)
    c.subscribe((topic, 2))
    c.publish(topic, b"fire and forget", 0)
    p = c.receive()
    assert (p.qos, p.packet_id, p.payload) == (0, 0, b"fire and forget")
    c.silent(0.3)


def test_incoming_dup_flag_is_not_forwarded(connected: Raw, topic: str) -> None:
    """MQTT-3.3.1-3: the DUP flag of an outgoing PUBLISH is set independently of the
    incoming one."""
    sub = connected(4)
    sub.subscribe((topic, 1))
    pub = connected(4)
    pub.send(Publish(topic, b"retry", 1, dup=True, packet_id=11))
    pub.expect(Puback)
    p = sub.receive()
    assert (p.payload, p.dup) == (b"retry", False)


def test_takeover_resends_in_flight_messages(raw: Raw, connected: Raw, topic: str) -> None:
    """Session state moves to the new connection: unacknowledged messages go out again."""
    a = raw(4)
    a.connect("moving", clean=False)
    a.subscribe((topic, 1))
    connected(4).publish(topic, b"in flight", 1)
    first = a.receive(ack=False)
    b = raw(4)
    assert b.connect("moving", clean=False).session_present
    again = b.receive()
    assert (again.payload, again.packet_id, again.dup) == (b"in flight", first.packet_id, True)


def test_no_resend_within_a_connection(connected: Raw, topic: str) -> None:
    """MQTT-4.4.0-1 (5.0) / 4.4.0-1 (3.1.1 note): an unacknowledged PUBLISH is resent only
    on session resume, never on a timer while the connection stays up."""
    sub = connected(5)
    sub.subscribe((topic, 1))
    connected(5).publish(topic, b"once", 1)
    sub.receive(ack=False)
    sub.silent(2.5)
