"""Message expiry sans-IO on a fake clock: queued and retained messages past their
interval are not delivered, up to the boundary. End to end over TCP:
tests/broker/test_mqtt5.py (the interval counts down) and test_connect.py (session expiry)."""

from __future__ import annotations

from support.sansio import advance, connected, make_engine, send, sent, subscribed

from broker.protocol.packets import Publish, Subscribe, SubscriptionOptions

TOPIC = "home/hall/temperature"
PERSISTENT = {"clean_start": False, "properties": {"session_expiry_interval": 60}}


def payloads(conn) -> list[bytes]:
    return [p.payload for p in sent(conn) if isinstance(p, Publish)]


def test_expired_message_is_not_delivered() -> None:
    """MQTT-3.3.2-5: a message whose interval passed is not sent to the subscriber."""
    engine, _ = make_engine()
    for reader in ("early", "late"):
        subscribed(engine, reader, TOPIC, 1, version=5, **PERSISTENT).connection_lost()
    pub = connected(engine, "pub", 5, peer="192.0.2.8:1")
    send(pub, Publish(TOPIC, b"stale", 1, packet_id=1,
                      properties={"message_expiry_interval": 1}),
         Publish(TOPIC, b"fresh", 1, packet_id=2,
                 properties={"message_expiry_interval": 600}))  # fmt: skip
    advance(engine, 0.9)
    assert payloads(connected(engine, "early", 5, clean_start=False)) == [b"stale", b"fresh"]
    advance(engine, 0.2)
    assert payloads(connected(engine, "late", 5, clean_start=False)) == [b"fresh"]


def test_retained_message_expires() -> None:
    """MQTT-3.3.2-5: a retained message is not sent once its interval has passed."""
    engine, _ = make_engine()
    pub = connected(engine, "pub", 5, peer="192.0.2.8:1")
    send(pub, Publish(TOPIC, b"brief", 1, retain=True, packet_id=1,
                      properties={"message_expiry_interval": 1}))  # fmt: skip
    advance(engine, 0.9)
    first = connected(engine, "first", 5)
    send(first, Subscribe(1, [(TOPIC, SubscriptionOptions(1))]))
    assert payloads(first) == [b"brief"]
    advance(engine, 0.2)
    second = connected(engine, "second", 5)
    send(second, Subscribe(1, [(TOPIC, SubscriptionOptions(1))]))
    assert payloads(second) == []
