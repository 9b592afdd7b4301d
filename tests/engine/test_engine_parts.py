"""The engine's parts, each found by its MQTT name: the $SYS registry (engine.sys), the
in-process API's origin (engine.local), wills and session takeover (engine.wills,
engine.sessions). Sans-IO, on a clock the test moves."""

from __future__ import annotations

from support.sansio import FakeClock, connected, sent

from broker.config import BrokerConfig
from broker.engine.engine import Engine
from broker.engine.message import Message
from broker.protocol import encode
from broker.protocol.packets import Publish, Subscribe, SubscriptionOptions, Will


def _engine() -> tuple[Engine, FakeClock]:
    clock = FakeClock()
    return Engine(BrokerConfig(sys_interval=0), clock=clock), clock


def test_sys_registry_publishes_every_source_and_only_changes() -> None:
    engine, _ = _engine()
    seen: list[Message] = []
    engine.subscribe_local("$SYS/#", seen.append)
    state = {"value": "ok"}

    def store() -> list[tuple[str, object]]:
        return [("store/state", state["value"]), ("store/bytes written", None)]

    engine.sys.add_source(store)
    engine.sys.publish()
    topics = {m.topic: m.payload for m in seen}
    assert topics["$SYS/broker/store/state"] == b"ok"
    assert topics["$SYS/broker/store/bytes written"] == b"unknown"
    assert "$SYS/broker/clients/connected" in topics
    assert all(engine.retained.get(m.topic) is not None for m in seen)  # kept retained
    engine.sys.publish()  # the count of retained messages changed: that one goes again
    seen.clear()
    engine.sys.publish()
    assert seen == []  # nothing changed: nothing routed again
    state["value"] = "failing"
    engine.sys.publish(store)  # a part tells its own change at once
    assert [(m.topic, m.payload) for m in seen] == [("$SYS/broker/store/state", b"failing")]
    engine.sys.remove_source(store)
    assert not any(t.startswith("$SYS/broker/store/") for t, _ in engine.sys.messages())


def test_in_process_publishers_are_told_apart_by_origin() -> None:
    """What a bridge relies on to never send back upstream what came from there."""
    engine, _ = _engine()
    got: list[Message] = []
    engine.subscribe_local("home/#", got.append, qos=1)
    engine.publish("home/a", b"1", qos=1, origin="\x00bridge:up")
    engine.publish("home/b", b"2", qos=1)
    assert [(m.topic, m.origin) for m in got] == [("home/a", "\x00bridge:up"), ("home/b", None)]


def test_a_delayed_will_waits_and_a_resumed_session_cancels_it() -> None:
    engine, clock = _engine()
    watcher = connected(engine, "watcher", version=5)
    watcher.data_received(encode(Subscribe(1, [("wills", SubscriptionOptions(qos=0))]), 5))
    assert sent(watcher)[0].type == 9  # SUBACK
    will = Will("wills", b"gone", 0, False, {"will_delay_interval": 30})
    for resume in (False, True):
        node = connected(engine, "node", version=5, clean_start=False, will=will,
                         properties={"session_expiry_interval": 600})
        node.connection_lost()
        assert engine.delayed_wills
        clock.now += 29
        engine.tick()
        assert sent(watcher) == []
        if resume:
            connected(engine, "node", version=5, clean_start=False,
                      properties={"session_expiry_interval": 600})
            assert not engine.delayed_wills  # cancelled by the resumed session
            clock.now += 5
            engine.tick()
            assert sent(watcher) == []
        else:
            clock.now += 1
            engine.tick()
            assert [p.payload for p in sent(watcher) if isinstance(p, Publish)] == [b"gone"]


def test_takeover_ends_the_old_connection_and_keeps_the_session() -> None:
    engine, _ = _engine()
    first = connected(engine, "node", version=4, clean_start=False)
    session = engine.sessions["node"]
    second = connected(engine, "node", version=4, clean_start=False)
    assert first.closed and not second.closed
    assert engine.sessions["node"] is session and session.connection is second
