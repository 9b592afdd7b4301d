"""While the store cannot commit, QoS 1/2 from the network is refused (5.0) or held (3.x);
QoS 0 and in-process messages keep flowing; held publishers go on once it can."""

from __future__ import annotations

from support.sansio import connected, sent

from broker.engine.engine import Engine
from broker.protocol import encode
from broker.protocol.packets import Publish, Subscribe, SubscriptionOptions


def _engine_with_subscriber() -> tuple[Engine, object]:
    engine = Engine()
    sub = connected(engine, "phone", peer="192.0.2.1:1")
    sub.data_received(encode(Subscribe(1, [("t/#", SubscriptionOptions(1))]), 4))
    sent(sub)
    engine.store_failing = True
    return engine, sub


def test_v5_publisher_is_refused_with_quota_exceeded() -> None:
    engine, sub = _engine_with_subscriber()
    pub = connected(engine, "pub5", version=5)
    pub.data_received(encode(Publish("t/a", b"1", 1, packet_id=7, retain=True), 5))
    pub.data_received(encode(Publish("t/a", b"2", 2, packet_id=8), 5))
    puback, pubrec = sent(pub)
    assert (puback.type, puback.packet_id, puback.reason_code) == (4, 7, 0x97)
    assert puback.properties["reason_string"] == "message store cannot write to disk"
    assert (pubrec.type, pubrec.packet_id, pubrec.reason_code) == (5, 8, 0x97)
    assert not pub.session.incoming_qos2  # a refused QoS 2 message is not awaiting PUBREL
    assert sent(sub) == [] and engine.retained.get("t/a") is None  # never routed
    assert engine.stats.publish_refused == 2
    assert not pub.closed and pub.reading


def test_v311_publisher_is_held_until_the_store_works_again() -> None:
    engine, sub = _engine_with_subscriber()
    pub = connected(engine, "pub311")
    pub.data_received(encode(Publish("t/a", b"1", 1, packet_id=7), 4))
    pub.data_received(encode(Publish("t/a", b"2", 1, packet_id=8), 4))
    assert sent(pub) == []  # no PUBACK: nothing is stored
    assert not pub.reading and engine.held == [pub]
    assert sent(sub) == []

    engine.store_failing = False
    engine.release_held()
    assert [(p.type, p.packet_id) for p in sent(pub)] == [(4, 7), (4, 8)]
    assert [p.payload for p in sent(sub)] == [b"1", b"2"]
    assert pub.reading and engine.held == []


def test_qos0_and_in_process_messages_keep_flowing() -> None:
    engine, sub = _engine_with_subscriber()
    pub = connected(engine, "sensor-node")
    pub.data_received(encode(Publish("t/temperature", b"21.5", 0), 4))
    engine.publish("t/status", "online", qos=1, retain=True)  # a driver, in-process
    assert [p.payload for p in sent(sub)] == [b"21.5", b"online"]
    assert pub.reading and engine.retained.get("t/status").payload == b"online"
