"""The `out` backlog: on disk while the upstream is down, bounded, forwarded in order."""

from __future__ import annotations

import time
from pathlib import Path

from store.procs import Publisher, Recorder, register, wait_until

from broker.bridge.queue import Backlog, Queued

from .conftest import bridge_file


def _item(i: int, size: int = 10) -> Queued:
    return Queued("t/x", b"%d" % i + b"." * size, 1, False, {})


def test_bound_drops_oldest_and_counts(tmp_path: Path) -> None:
    q = Backlog(max_bytes=10 * 15, path=tmp_path / "q.db")
    for i in range(40):
        q.push(_item(i), durable=True)
    q.commit()
    assert q.dropped > 0 and q.bytes <= q.max_bytes
    kept = [it.payload.rstrip(b".") for it in q.items]
    assert kept == [b"%d" % i for i in range(40 - len(kept), 40)]  # the newest, in order
    q.close()
    again = Backlog(max_bytes=1000, path=tmp_path / "q.db")
    assert [it.payload.rstrip(b".") for it in again.items] == kept  # the file agrees
    again.close()


def test_memory_items_reach_disk_when_the_link_drops(tmp_path: Path) -> None:
    q = Backlog(max_bytes=10_000, path=tmp_path / "q.db")
    for i in range(5):
        q.push(_item(i), durable=False)  # connected: memory only
    q.acked(q.items[0])
    q.persist_all()
    q.commit()
    q.close()
    again = Backlog(max_bytes=10_000, path=tmp_path / "q.db")
    assert [it.payload.rstrip(b".") for it in again.items] == [b"1", b"2", b"3", b"4"]
    again.close()


def _upstream_with_subscriber(our_broker):
    """Our broker as the upstream, with a persistent subscriber to gw/#; left stopped."""
    upstream = our_broker("upstream")
    register(upstream.port, "up-sub", "gw/#", 1)
    upstream.stop()  # its data dir keeps the session: messages queue for it on restart
    return upstream


def test_queued_while_down_survives_local_kill9(tmp_path: Path, our_broker) -> None:
    """Upstream down, local broker crashes and restarts: the backlog still arrives, in order."""
    upstream = _upstream_with_subscriber(our_broker)
    cfg = bridge_file(tmp_path, upstream.port, ['sensors/# out 1 "" gw/'], protocol="mqttv50")
    local = our_broker("local", "--bridge-config", str(cfg))
    pub = Publisher(local.port, "pub", clean=True).start()
    for i in range(100):
        pub.publish("sensors/t", b"%d" % i, 1)
    wait_until(pub.all_acked, what="local acks")
    pub.stop()
    time.sleep(0.5)
    local.kill9()
    local.start()
    upstream.start()
    sub = Recorder(upstream.port, "up-sub").start()
    wait_until(lambda: len(set(sub.payloads())) >= 100, what="backlog upstream")
    first = list(dict.fromkeys(sub.payloads()))
    sub.stop()
    assert first == [b"%d" % i for i in range(100)]


def test_bound_while_down_and_sys_counters(tmp_path: Path, our_broker) -> None:
    upstream = _upstream_with_subscriber(our_broker)
    cfg = bridge_file(
        tmp_path, upstream.port, ['sensors/# out 1 "" gw/'], protocol="mqttv50",
        queue_max_bytes=2000,
    )  # fmt: skip
    local = our_broker("local", "--bridge-config", str(cfg))
    pub = Publisher(local.port, "pub", clean=True).start()
    for i in range(100):
        pub.publish("sensors/t", b"%03d" % i + b"x" * 90, 1)
    wait_until(pub.all_acked, what="local acks")
    pub.stop()
    watch = Recorder(local.port, "watch", clean=True).start()
    watch.subscribe("$SYS/broker/bridge/up/#", 0)
    upstream.start()
    wait_until(lambda: ("$SYS/broker/bridge/up/state", b"connected", 0) in watch.received,
               what="connected state")  # fmt: skip
    sub = Recorder(upstream.port, "up-sub").start()
    wait_until(lambda: b"099" in [p[:3] for p in sub.payloads()], what="newest message")
    got = [p[:3] for p in dict.fromkeys(sub.payloads())]
    dropped = [int(p) for t, p, _ in watch.received if t.endswith("/dropped")]
    sub.stop()
    watch.stop()
    assert dropped and dropped[-1] > 0
    # What arrived is the newest messages, in order, ending with the last one.
    assert got == sorted(got)
    assert len(got) <= 2000 // 90 + 1
