"""What the store keeps across a restart, checked in-process (no subprocess, no kill)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from broker import Broker, BrokerConfig
from broker.bridge.client import ClientOptions, MQTTClient
from broker.protocol.packets import Publish, SubscriptionOptions, Will

NEVER = 0xFFFFFFFF


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 120))


async def _broker(data: Path, **settings: Any) -> Broker:
    broker = Broker(BrokerConfig(port=0, sys_interval=0, data_dir=str(data), **settings))
    await broker.start()
    return broker


class Inbox:
    """A client's received messages, and a way to wait for a number of them."""

    def __init__(self) -> None:
        self.messages: list[Publish] = []
        self._changed = asyncio.Event()

    def __call__(self, p: Publish, ack: Any) -> None:
        ack()
        self.messages.append(p)
        self._changed.set()

    async def wait_for(self, n: int, timeout: float = 30.0) -> list[Publish]:
        async def wait() -> None:
            while len(self.messages) < n:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), timeout)
        return self.messages


async def _client(broker: Broker, cid: str, inbox: Inbox | None = None, **kw: Any) -> MQTTClient:
    client = MQTTClient(ClientOptions("127.0.0.1", broker.port, cid, **kw), inbox)
    await client.connect()
    return client


def test_queue_and_retained_survive_a_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        broker = await _broker(tmp_path)
        sub = await _client(broker, "phone", clean_start=False)
        await sub.subscribe([("home/#", SubscriptionOptions(qos=2))])
        await sub.disconnect()
        for i in range(5):
            broker.publish("home/hall/motion", b"%d" % i, qos=2)
        broker.publish("home/hall/temperature", "20.5", qos=1, retain=True)
        broker.publish("home/old", "x", retain=True)
        broker.publish("home/old", "", retain=True)  # cleared: must stay cleared
        await broker.stop()

        broker = await _broker(tmp_path)
        inbox = Inbox()
        sub = await _client(broker, "phone", inbox, clean_start=False)
        got = await inbox.wait_for(6)  # five events and the retained temperature
        motion = [p for p in got if p.topic == "home/hall/motion"]
        assert [p.payload for p in motion] == [b"%d" % i for i in range(5)]
        assert all(p.qos == 2 for p in motion)
        probe_inbox = Inbox()
        probe = await _client(broker, "probe", probe_inbox)
        await probe.subscribe([("home/#", SubscriptionOptions(qos=1))])
        retained = await probe_inbox.wait_for(1)
        await asyncio.sleep(0.3)
        assert [(p.topic, p.payload, p.retain) for p in retained] == [
            ("home/hall/temperature", b"20.5", True)
        ]
        await asyncio.sleep(0.3)
        assert len(inbox.messages) == 6  # nothing delivered twice
        for c in (sub, probe):
            await c.disconnect()
        await broker.stop()

    run(scenario())


def test_acknowledged_deliveries_leave_no_rows(tmp_path: Path) -> None:
    async def scenario() -> None:
        broker = await _broker(tmp_path)
        inbox = Inbox()
        sub = await _client(broker, "phone", inbox, clean_start=False)
        await sub.subscribe([("home/#", SubscriptionOptions(qos=1))])
        for i in range(200):
            broker.publish("home/x", b"%d" % i, qos=1)
        await inbox.wait_for(200)
        await sub.disconnect()
        await broker.stop()

    run(scenario())
    db = sqlite3.connect(tmp_path / "broker.db")
    assert db.execute("SELECT count(*) FROM deliveries").fetchone() == (0,)
    assert db.execute("SELECT client_id FROM sessions").fetchall() == [("phone",)]
    db.close()


def test_session_expiry_counts_across_restarts(tmp_path: Path) -> None:
    async def scenario() -> None:
        broker = await _broker(tmp_path)
        for cid, expiry in (("short", 1), ("long", 3600)):
            c = await _client(broker, cid, version=5, clean_start=False, session_expiry=expiry)
            await c.subscribe([("a/#", SubscriptionOptions(qos=1))])
            await c.disconnect()
        await broker.stop()
        await asyncio.sleep(1.5)
        broker = await _broker(tmp_path)
        present = {}
        for cid in ("short", "long"):
            c = MQTTClient(
                ClientOptions("127.0.0.1", broker.port, cid, version=5, clean_start=False,
                              session_expiry=60)
            )  # fmt: skip
            broker.engine.tick()  # expire what is due, as the once-a-second timer would
            present[cid] = (await c.connect()).session_present
            await c.disconnect()
        await broker.stop()
        assert present == {"short": False, "long": True}

    run(scenario())


def test_delayed_will_survives_a_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        broker = await _broker(tmp_path)
        will = Will("nodes/esp1/status", b"offline", 1, True, {"will_delay_interval": 2})
        node = await _client(
            broker, "esp1", version=5, clean_start=False, session_expiry=600, will=will
        )
        node.drop()  # the link dies: the will waits 2 s for the node to come back
        await asyncio.sleep(0.5)
        await broker.stop()
        broker = await _broker(tmp_path)
        inbox = Inbox()
        watcher = await _client(broker, "watcher", inbox)
        await watcher.subscribe([("nodes/#", SubscriptionOptions(qos=1))])
        for _ in range(60):
            broker.engine.tick()
            if inbox.messages:
                break
            await asyncio.sleep(0.1)
        assert [(p.topic, p.payload) for p in inbox.messages] == [
            ("nodes/esp1/status", b"offline")
        ]
        await watcher.disconnect()
        await broker.stop()

    run(scenario())


def test_low_wear_keeps_retained_and_subscriptions_only(tmp_path: Path) -> None:
    async def scenario() -> None:
        settings = {"persistence": "low-wear", "persistence_interval": 0.2}
        broker = await _broker(tmp_path, **settings)
        sub = await _client(broker, "phone", clean_start=False)
        await sub.subscribe([("home/#", SubscriptionOptions(qos=1))])
        await sub.disconnect()
        broker.publish("home/a/temperature", "19", qos=1, retain=True)
        broker.publish("home/a/event", "queued", qos=1)
        await asyncio.sleep(0.6)  # a periodic commit, not only the one at shutdown
        db = sqlite3.connect(tmp_path / "broker.db")
        assert db.execute("SELECT topic FROM retained").fetchall() == [("home/a/temperature",)]
        assert db.execute("SELECT count(*) FROM deliveries").fetchone() == (0,)
        db.close()
        await broker.stop()
        broker = await _broker(tmp_path, **settings)
        inbox = Inbox()
        sub = await _client(broker, "phone", inbox, clean_start=False)
        broker.publish("home/a/new", "live", qos=1)  # the subscription came back
        got = await inbox.wait_for(1)
        await asyncio.sleep(0.3)
        assert [p.payload for p in got] == [b"live"]  # the queued message was not kept
        await sub.disconnect()
        await broker.stop()

    run(scenario())
