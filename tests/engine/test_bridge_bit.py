"""The 3.1/3.1.1 bridge bit (protocol level | 0x80, Mosquitto's try_private): the bridging
broker gets neither its own messages back nor retain flags cleared."""

from __future__ import annotations

from broker.engine.engine import Engine
from broker.protocol import Decoder, encode
from broker.protocol.packets import Connect, Publish, Subscribe, SubscriptionOptions


def test_codec_carries_the_bridge_bit() -> None:
    wire = encode(Connect(protocol_level=4, client_id="b", bridge=True), 4)
    assert wire[8] == 0x84  # the level byte after "\x00\x04MQTT"
    (decoded,) = Decoder().feed(wire)
    assert decoded.bridge and decoded.protocol_level == 4
    (plain,) = Decoder().feed(encode(Connect(protocol_level=4, client_id="c"), 4))
    assert not plain.bridge


def _client(engine: Engine, client_id: str, bridge: bool = False):
    conn = engine.connect("192.0.2.1:1")
    conn.data_received(encode(Connect(protocol_level=4, client_id=client_id, bridge=bridge), 4))
    conn.out.clear()
    return conn


def _publishes(conn) -> list:
    packets = Decoder(version=4).feed(b"".join(conn.out))
    conn.out.clear()
    return [p for p in packets if p.type == 3]


def test_bridge_gets_no_echo_and_keeps_retain_flags() -> None:
    engine = Engine()
    bridge = _client(engine, "upstream-bridge", bridge=True)
    other = _client(engine, "sensor")
    bridge.data_received(encode(Subscribe(1, [("home/#", SubscriptionOptions(1))]), 4))
    bridge.out.clear()
    bridge.data_received(encode(Publish("home/a", b"from-bridge", 0, retain=True), 4))
    assert _publishes(bridge) == []  # no echo
    other.data_received(encode(Publish("home/b", b"21.4", 0, retain=True), 4))
    (msg,) = _publishes(bridge)
    assert (msg.topic, msg.payload, msg.retain) == ("home/b", b"21.4", True)


def test_ordinary_client_gets_its_own_messages_with_retain_cleared() -> None:
    engine = Engine()
    c = _client(engine, "plain")
    c.data_received(encode(Subscribe(1, [("home/#", SubscriptionOptions(1))]), 4))
    c.out.clear()
    c.data_received(encode(Publish("home/a", b"x", 0, retain=True), 4))
    (msg,) = _publishes(c)
    assert msg.retain is False
