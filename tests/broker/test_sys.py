"""$SYS/broker/... statistics, published retained at --sys-interval."""

from __future__ import annotations

import time
from collections.abc import Callable

from support.processes import OurBroker
from support.rawmqtt import RawClient
from support.threadbroker import ThreadBroker

Raw = Callable[..., RawClient]

PREFIX = "$SYS/broker/"
EXPECTED = [
    "version",
    "uptime",
    "clients/connected",
    "clients/maximum",
    "messages/received",
    "messages/sent",
    "bytes/received",
    "bytes/sent",
    "retained messages/count",
    "subscriptions/count",
]


def read_until(
    c: RawClient,
    done: Callable[[dict[str, str]], bool],
    known: dict[str, str] | None = None,
    timeout: float = 15.0,
) -> dict[str, str]:
    """Collect $SYS values from a subscribed client until ``done(values)`` holds.

    Values are published only when they change, so ``known`` carries the earlier ones.
    """
    values: dict[str, str] = dict(known or {})
    deadline = time.monotonic() + timeout
    while not done(values):
        left = deadline - time.monotonic()
        assert left > 0, f"$SYS values never satisfied the test: {values}"
        try:
            p = c.receive(timeout=left)
        except TimeoutError:
            continue
        assert p.topic.startswith(PREFIX)
        values[p.topic[len(PREFIX) :]] = p.payload.decode()
    return values


def test_sys_topics_published_and_updated(make_broker_process, connected: Raw, topic: str) -> None:
    b: OurBroker = make_broker_process("--sys-interval", "1")
    watcher = connected(4, port=b.port)
    watcher.subscribe((PREFIX + "#", 0))
    first = read_until(watcher, lambda v: all(k in v for k in EXPECTED))
    assert "broker" in first["version"]
    assert first["uptime"].endswith("seconds")
    for key in EXPECTED[2:]:
        assert int(first[key]) >= 0, key
    # Activity shows up in the next updates.
    pub = connected(5, port=b.port)
    for i in range(5):
        pub.publish(f"{topic}/{i}", b"x" * 100, 1, retain=True)
    uptime0 = int(first["uptime"].split()[0])
    later = read_until(
        watcher,
        lambda v: (
            int(v.get("uptime", "0 s").split()[0]) > uptime0
            and int(v.get("messages/received", 0)) >= int(first["messages/received"]) + 5
            and int(v.get("retained messages/count", 0))
            >= int(first["retained messages/count"]) + 5
            and int(v.get("clients/connected", 0)) >= 2
            and int(v.get("subscriptions/count", 0)) >= 1
            and int(v.get("bytes/received", 0)) > int(first["bytes/received"]) + 500
        ),
        first,
    )
    assert int(later["messages/sent"]) > int(first["messages/sent"])


def test_sys_messages_are_retained(
    make_broker: Callable[..., ThreadBroker], connected: Raw
) -> None:
    b = make_broker(sys_interval=1)
    time.sleep(0.2)
    c = connected(5, port=b.port)
    c.subscribe(("$SYS/broker/version", 0))
    p = c.receive()
    assert p.retain and p.payload.startswith(b"sensor-gateway")


def test_no_sys_topics_when_interval_is_zero(
    make_broker: Callable[..., ThreadBroker], connected: Raw
) -> None:
    b = make_broker(sys_interval=0)
    c = connected(4, port=b.port)
    c.subscribe(("$SYS/#", 0))
    c.silent(1.5)
