"""Driving the sans-IO engine in tests: a clock the test moves, and connected clients."""

from __future__ import annotations

from typing import Any

from broker.config import BrokerConfig
from broker.engine.connection import Connection
from broker.engine.engine import Engine
from broker.protocol import Decoder, encode
from broker.protocol.packets import Connect, Packet, Subscribe, SubscriptionOptions, Will
from support.clock import FakeClock as FakeClock  # re-exported: the engine's clock


def make_engine(**settings: Any) -> tuple[Engine, FakeClock]:
    """An engine with BrokerConfig ``settings`` on a fake clock; move the clock, then call
    ``engine.tick()`` (the shell does that once a second)."""
    clock = FakeClock()
    return Engine(BrokerConfig(**settings), clock=clock), clock


def advance(engine: Engine, seconds: float) -> None:
    """Let ``seconds`` pass on the engine's fake clock, then run its timers (the shell
    ticks once a second; a test ticks where it wants to look)."""
    engine.clock.now += seconds  # type: ignore[attr-defined]
    engine.tick()


def connected(
    engine: Engine, client_id: str, version: int = 4, peer: str = "192.0.2.7:4000", **fields: Any
) -> Connection:
    """A connection that has sent CONNECT (``fields`` go into it) and got a CONNACK accepting
    it; the CONNACK is taken off its output (what a resumed session resends stays)."""
    conn = engine.connect(peer)
    conn.data_received(
        encode(Connect(protocol_level=version, client_id=client_id, **fields), version)
    )
    out = b"".join(conn.out)
    connack = Decoder(version=version).feed(out)[0]
    assert connack.type == 2 and connack.reason_code == 0, connack
    rest = out[2 + out[1] :]  # a CONNACK's remaining length fits one byte
    conn.out = [rest] if rest else []
    return conn


def send(conn: Connection, *packets: Packet) -> None:
    """What a client sends: ``packets`` encoded at ``conn``'s protocol level."""
    conn.data_received(b"".join(encode(p, conn.version) for p in packets))


def subscribed(
    engine: Engine, client_id: str, topic_filter: str, qos: int = 0, version: int = 4,
    **fields: Any,
) -> Connection:
    """A connected client (``fields`` go into its CONNECT) subscribed to ``topic_filter``;
    the SUBACK, and retained messages it brought, are taken off its output."""
    conn = connected(engine, client_id, version, **fields)
    send(conn, Subscribe(1, [(topic_filter, SubscriptionOptions(qos))]))
    assert sent(conn)[0].type == 9
    return conn


def sent(conn: Connection) -> list[Packet]:
    """Decode and clear what the engine queued for ``conn``."""
    packets = Decoder(version=conn.version).feed(b"".join(conn.out))
    conn.out.clear()
    return packets


def offline_with_will(engine: Engine, client_id: str, expiry: int, will_delay: int) -> None:
    """A 5.0 persistent session (``expiry`` seconds) whose connection was lost, leaving a
    retained will on ``home/<client_id>/status`` delayed by ``will_delay`` seconds."""
    will = Will(
        f"home/{client_id}/status", b"offline", 1, True, {"will_delay_interval": will_delay}
    )
    conn = connected(
        engine,
        client_id,
        version=5,
        clean_start=False,
        properties={"session_expiry_interval": expiry},
        will=will,
    )
    conn.connection_lost()
