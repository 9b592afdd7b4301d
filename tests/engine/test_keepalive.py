"""Keepalive sans-IO on a fake clock: pings keep a connection, Server Keep Alive overrides
the client's, a 3.1.1 client keeps its own. End to end over TCP:
tests/broker/test_connect.py (a silent client closed after 1.5 x keepalive)."""

from __future__ import annotations

import pytest
from support.sansio import advance, connected, make_engine, send, sent

from broker.protocol.packets import Connect, Disconnect, Pingreq, Pingresp


def test_pings_keep_a_connection_alive() -> None:
    """MQTT-3.12.4-1: PINGREQ is answered with PINGRESP; any packet resets the timer."""
    engine, _ = make_engine()
    c = connected(engine, "pinger", keepalive=1)
    for _ in range(8):  # 3.2 s, far beyond 1.5 x keepalive
        advance(engine, 0.4)
        send(c, Pingreq())
        assert sent(c) == [Pingresp()]
    assert not c.closed


@pytest.mark.parametrize("asked", [0, 3600])
def test_server_keep_alive_overrides_the_clients(asked: int) -> None:
    """MQTT-3.2.2-21/22: Server Keep Alive in CONNACK, and the broker enforces that value."""
    engine, _ = make_engine(max_keepalive=1)
    c = engine.connect("192.0.2.7:4000")
    send(c, Connect(protocol_level=5, client_id="k", keepalive=asked))
    (connack,) = sent(c)
    assert connack.properties["server_keep_alive"] == 1
    advance(engine, 1.4)
    assert not c.closed
    advance(engine, 0.2)
    assert c.closed
    assert [p.reason_code for p in sent(c) if isinstance(p, Disconnect)] == [0x8D]


@pytest.mark.parametrize("version", [3, 4])
def test_max_keepalive_does_not_cut_a_v3_clients_own_keepalive(version: int) -> None:
    """MQTT 3.1/3.1.1 cannot tell a client to ping sooner (no Server Keep Alive): a client
    that keeps to its own keepalive must not be disconnected for it."""
    engine, _ = make_engine(max_keepalive=1)
    c = connected(engine, "own-pace", version, keepalive=3)
    for _ in range(2):
        advance(engine, 2.0)  # well within 1.5 x 3 s, well beyond 1.5 x the broker's 1 s
        assert not c.closed
        send(c, Pingreq())
        assert sent(c) == [Pingresp()]
    advance(engine, 4.6)  # its own 1.5 x 3 s still holds
    assert c.closed
