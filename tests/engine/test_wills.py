"""Wills and their timers, sans-IO on a fake clock: the will delay, a session that ends
first, a reconnect that cancels the will, keepalive expiry. The same concepts over TCP with
real clients: tests/broker/test_will.py."""

from __future__ import annotations

from support.sansio import advance, connected, make_engine, send, sent, subscribed

from broker.protocol.packets import Disconnect, Publish, Will

TOPIC = "home/node/status"


def will_client(engine, client_id: str, version: int = 5, delay: int | None = None,
                expiry: int | None = None, keepalive: int = 60, **will_args):
    """A connected client whose will says ``offline`` on TOPIC."""
    props = {"will_delay_interval": delay} if delay is not None else {}
    session = {"session_expiry_interval": expiry} if expiry is not None else {}
    return connected(engine, client_id, version, will=Will(TOPIC, b"offline", properties=props,
                     **will_args), properties=session, keepalive=keepalive)  # fmt: skip


def wills(watcher) -> list[bytes]:
    return [p.payload for p in sent(watcher) if isinstance(p, Publish)]


def test_will_delay_holds_the_will() -> None:
    """MQTT-3.1.3-9: the will is published when the delay has passed (not at once)."""
    engine, _ = make_engine()
    watcher = subscribed(engine, "watcher", TOPIC)
    will_client(engine, "delayed-will", delay=2, expiry=60).connection_lost()
    assert wills(watcher) == []
    advance(engine, 1.9)
    assert wills(watcher) == []
    advance(engine, 0.2)
    assert wills(watcher) == [b"offline"]


def test_reconnect_within_will_delay_cancels_the_will() -> None:
    """MQTT 5.0 3.1.3.2.2: a new connection for the session before the delay ends: no will."""
    engine, _ = make_engine()
    watcher = subscribed(engine, "watcher", TOPIC)
    will_client(engine, "comes-back", delay=2, expiry=60).connection_lost()
    advance(engine, 1)
    back = connected(engine, "comes-back", 5, clean_start=False)
    assert back.session is not None
    advance(engine, 3.5)
    assert wills(watcher) == []


def test_will_published_at_session_end_if_before_the_delay() -> None:
    """MQTT 5.0 3.1.3.2.2: will sent when the session ends, if that is earlier than the delay."""
    engine, _ = make_engine()
    watcher = subscribed(engine, "watcher", TOPIC)
    will_client(engine, "expires-first", delay=3600, expiry=1).connection_lost()
    advance(engine, 0.9)
    assert wills(watcher) == []
    advance(engine, 0.2)
    assert wills(watcher) == [b"offline"]
    assert "expires-first" not in engine.sessions


def test_will_on_keepalive_timeout() -> None:
    """MQTT-3.1.2-24: 1.5 x keepalive of silence closes the connection, publishing the will."""
    engine, _ = make_engine()
    watcher = subscribed(engine, "watcher", TOPIC, keepalive=0)
    c = will_client(engine, "sleepy", version=4, keepalive=1)
    advance(engine, 1.4)
    assert (c.closed, wills(watcher)) == (False, [])
    advance(engine, 0.2)
    assert c.closed
    assert sent(c) == []  # 3.1.1: closed without a word
    assert wills(watcher) == [b"offline"]


def test_no_will_after_normal_disconnect_even_later() -> None:
    """MQTT-3.1.2-10 / MQTT-3.14.4-3: DISCONNECT (0x00) discards the will, delayed or not."""
    engine, _ = make_engine()
    watcher = subscribed(engine, "watcher", TOPIC)
    for n, delay in enumerate((None, 5)):
        c = will_client(engine, f"polite-{n}", delay=delay, expiry=60)
        send(c, Disconnect(0))
        assert c.closed
    advance(engine, 3600)
    assert wills(watcher) == []
