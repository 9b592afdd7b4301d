"""A full subscriber queue refuses or holds back network publishers (they can be told), but
never loses what nobody can be told about: in-process publishes and wills."""

from __future__ import annotations

from broker.config import BrokerConfig
from broker.engine.engine import Engine
from broker.protocol import Decoder, encode
from broker.protocol.packets import Connect, Publish, Subscribe, SubscriptionOptions, Will


def _client(engine: Engine, client_id: str, version: int = 4, will: Will | None = None):
    conn = engine.connect("192.0.2.1:1")
    conn.data_received(encode(Connect(protocol_level=version, client_id=client_id, will=will), version))
    conn.out.clear()
    return conn


def _congested_engine() -> tuple[Engine, object]:
    engine = Engine(BrokerConfig(max_queued_messages=3))
    sub = _client(engine, "stalled")
    sub.data_received(encode(Subscribe(1, [("t/#", SubscriptionOptions(1))]), 4))
    sub.pause_writing()  # its socket is full: everything now queues
    for i in range(3):
        engine.publish("t/fill", str(i), qos=1)
    assert sub.session in engine.congested
    return engine, sub


def test_network_publisher_v5_is_refused_while_congested() -> None:
    engine, _ = _congested_engine()
    pub = _client(engine, "pub", version=5)
    pub.data_received(encode(Publish("t/x", b"1", 1, packet_id=7), 5))
    (ack,) = Decoder(version=5).feed(b"".join(pub.out))
    assert ack.reason_code == 0x97
    assert engine.retained.get("t/x") is None


def test_in_process_publish_is_retained_and_queued_while_congested() -> None:
    engine, sub = _congested_engine()
    engine.publish("t/status", "online", qos=1, retain=True)
    assert engine.retained.get("t/status").payload == b"online"
    assert [item.message.payload for item in sub.session.queue][-1] == b"online"


def test_will_is_delivered_while_congested() -> None:
    engine, sub = _congested_engine()
    node = _client(engine, "node", will=Will("t/node/status", b"offline", 1, True))
    node.connection_lost()
    assert engine.retained.get("t/node/status").payload == b"offline"
    assert [item.message.payload for item in sub.session.queue][-1] == b"offline"
