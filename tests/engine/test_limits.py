"""Engine limits and timers, driven sans-IO with a fake clock: no sockets, no sleeping."""

from __future__ import annotations

from support.clock import FakeClock

from broker.config import BrokerConfig
from broker.engine.router import Engine
from broker.protocol import Decoder, encode
from broker.protocol.packets import Connect, Publish


def _engine(**settings) -> tuple[Engine, FakeClock]:
    clock = FakeClock()
    return Engine(BrokerConfig(**settings), clock=clock), clock


def _connected(engine: Engine, client_id: str, keepalive: int = 60, version: int = 4):
    conn = engine.connect("192.0.2.7:4000")
    conn.data_received(
        encode(Connect(protocol_level=version, client_id=client_id, keepalive=keepalive), version)
    )
    packets = Decoder(version=version).feed(b"".join(conn.out))
    conn.out.clear()
    assert packets[0].type == 2 and packets[0].reason_code == 0
    return conn


def test_connections_per_second_from_one_address_are_limited() -> None:
    engine, clock = _engine(max_connection_rate=5)
    conns = [engine.connect(f"192.0.2.7:{4000 + i}") for i in range(8)]
    assert [c.closed for c in conns] == [False] * 5 + [True] * 3
    assert engine.stats.connections_refused == 3
    # Another address has its own budget; loopback has none.
    assert not engine.connect("192.0.2.8:1").closed
    assert all(not engine.connect(f"127.0.0.1:{i}").closed for i in range(50))
    clock.now += 1.5
    assert not engine.connect("192.0.2.7:5000").closed


def test_connect_timeout_closes_a_silent_connection() -> None:
    engine, clock = _engine(connect_timeout=10)
    conn = engine.connect("192.0.2.7:4000")
    clock.now += 9
    engine.tick()
    assert not conn.closed
    clock.now += 2
    engine.tick()
    assert conn.closed


def test_keepalive_allows_one_and_a_half_times_the_interval() -> None:
    engine, clock = _engine()
    conn = _connected(engine, "k", keepalive=10)
    clock.now += 14.9
    engine.tick()
    assert not conn.closed
    conn.data_received(b"\xc0\x00")  # PINGREQ resets the timer
    clock.now += 14.9
    engine.tick()
    assert not conn.closed
    clock.now += 0.2
    engine.tick()
    assert conn.closed


def test_session_expiry_ends_the_session_after_the_interval() -> None:
    engine, clock = _engine()
    conn = engine.connect("192.0.2.7:4000")
    conn.data_received(
        encode(
            Connect(
                protocol_level=5,
                client_id="e",
                clean_start=False,
                properties={"session_expiry_interval": 30},
            ),
            5,
        )
    )
    conn.connection_lost()
    assert "e" in engine.sessions
    clock.now += 29
    engine.tick()
    assert "e" in engine.sessions
    clock.now += 2
    engine.tick()
    assert "e" not in engine.sessions


def test_a_publish_before_connect_closes_the_connection() -> None:
    engine, _ = _engine()
    conn = engine.connect("192.0.2.7:4000")
    conn.data_received(encode(Publish("a", b"x"), 4))
    assert conn.closed


def test_a_configured_policy_keeps_the_deny_list() -> None:
    from broker.engine.policy import AllowAll
    from broker.protocol.packets import Subscribe, SubscriptionOptions

    engine, _ = _engine(policy=AllowAll(), deny_subscribe=["test/nosubscribe"])
    conn = _connected(engine, "c", version=5)
    conn.data_received(encode(Subscribe(1, [("test/nosubscribe", SubscriptionOptions(1))]), 5))
    (suback,) = Decoder(version=5).feed(b"".join(conn.out))
    assert suback.reason_codes == [0x80]
