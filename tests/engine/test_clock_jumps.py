"""The engine's timers follow the monotonic clock, never the wall clock.

A Pi without a real-time clock sees its wall clock jump (forward when NTP syncs, back to
the last saved time at boot). Keepalive, the CONNECT timeout, will delays, session expiry
and message expiry must not care: here the wall clock (``time.time``, which the store's
journal reads) jumps a day either way between every step, while the engine's clock moves
only as the test says.
"""

from __future__ import annotations

import time

import pytest
from support.sansio import FakeClock, connected, offline_with_will, sent

from broker.config import BrokerConfig
from broker.engine.engine import Engine
from broker.protocol import encode
from broker.protocol.packets import Publish, Subscribe, SubscriptionOptions
from broker.store.journal import Journal
from broker.store.records import Clocks

DAY = 86400.0


@pytest.fixture(params=[-DAY, DAY], ids=["back", "forward"])
def rig(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    wall = FakeClock(time.time())  # time.time() as the test sets it
    monkeypatch.setattr(time, "time", wall)
    clock = FakeClock()
    engine = Engine(BrokerConfig(connect_timeout=10), clock=clock)
    engine.store = Journal(Clocks(clock))  # the store's hooks convert times with the wall clock
    jump = request.param

    def advance(seconds: float) -> None:
        wall.now += jump  # the wall clock jumps...
        clock.now += seconds  # ...the monotonic one just runs
        engine.tick()

    return engine, advance


def test_keepalive_and_connect_timeout(rig) -> None:
    engine, advance = rig
    idle = engine.connect("192.0.2.9:1")
    conn = connected(engine, "k", keepalive=10)
    advance(9)
    assert not idle.closed
    advance(2)
    assert idle.closed  # no CONNECT within 10 s
    advance(3.9)
    assert not conn.closed  # 14.9 s of silence: within 1.5 x keepalive
    advance(0.2)
    assert conn.closed


def test_will_delay_and_session_expiry(rig) -> None:
    engine, advance = rig
    watcher = connected(engine, "watcher", peer="192.0.2.1:1")
    watcher.data_received(encode(Subscribe(1, [("home/#", SubscriptionOptions(0))]), 4))
    sent(watcher)
    offline_with_will(engine, "node", expiry=60, will_delay=30)
    advance(29)
    assert sent(watcher) == []
    advance(2)
    assert [p.payload for p in sent(watcher)] == [b"offline"]
    assert "node" in engine.sessions
    advance(28)
    assert "node" in engine.sessions
    advance(2)
    assert "node" not in engine.sessions


def test_message_expiry_while_queued(rig) -> None:
    engine, advance = rig
    phone = connected(
        engine, "phone", version=5, clean_start=False, properties={"session_expiry_interval": 600}
    )
    phone.data_received(encode(Subscribe(1, [("home/#", SubscriptionOptions(1))]), 5))
    sent(phone)
    phone.connection_lost()
    pub = connected(engine, "pub", version=5, peer="192.0.2.2:1")
    props = {"message_expiry_interval": 100}
    pub.data_received(encode(Publish("home/a", b"1", 1, packet_id=1, properties=props), 5))
    advance(40)
    phone = connected(
        engine, "phone", version=5, clean_start=False, properties={"session_expiry_interval": 600}
    )
    (publish,) = [p for p in sent(phone) if p.type == 3]
    assert publish.properties["message_expiry_interval"] == 60
