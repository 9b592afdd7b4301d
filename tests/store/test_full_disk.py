"""A full SD card: nothing is acknowledged that is not on disk, and the store comes back.

The data directory sits on a small tmpfs the test fills up, so SQLite meets the real
ENOSPC. Persistent 3.1.1 and 5.0 sessions wait offline for the messages; paho publishers
of both versions send while the disk is full, and the test records what each was told.
After space is freed and the broker restarted (kill -9, or SIGTERM), every message that
got a successful PUBACK must be delivered to both sessions.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.small_disk import SmallDisk

from broker.store import sqlite as sql
from broker.store.recovery import open_store
from broker.store.sqlite import SqliteFile

from .procs import OurBroker, Publisher, Recorder, free_port, register, wait_until

MESSAGES = 40  # per publisher


@contextlib.contextmanager
def _running(broker: OurBroker) -> Iterator[list[Recorder]]:
    """Clients the test adds to the list are stopped, and the broker, whatever happens;
    its log is printed when the test fails."""
    clients: list[Recorder] = []
    try:
        yield clients
    except BaseException:
        print(broker.log())
        raise
    finally:
        for client in clients:
            client.stop()
        broker.stop()


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    with SmallDisk(tmp_path / "disk", "4m") as d:
        yield d


class StoreState(Recorder):
    """Watches $SYS/broker/store/{state,failed commits}."""

    def value(self, key: str) -> str | None:
        with self.lock:
            values = [p for t, p, _ in self.received if t == f"$SYS/broker/store/{key}"]
        return values[-1].decode() if values else None


def _register_v5(port: int, client_id: str, topic_filter: str) -> None:
    sub = Recorder(port, client_id, version=5).start()
    sub.subscribe(topic_filter, 1)
    sub.stop()


@pytest.mark.parametrize("restart", ["kill9", "sigterm"])
def test_full_disk_acknowledges_only_what_is_stored(
    tmp_path: Path, disk: SmallDisk, restart: str
) -> None:
    port = free_port()
    broker = OurBroker(
        port,
        tmp_path / "broker.log",
        ["--data-dir", str(disk.path / "b"), "--sys-interval", "1"],
    )
    broker.start()
    with _running(broker) as clients:
        register(port, "sub311", "t/#", 1)
        _register_v5(port, "sub5", "t/#")
        state = StoreState(port, "watcher", clean=True).start()
        clients.append(state)
        state.subscribe("$SYS/broker/store/#", 0)
        live = Recorder(port, "live", clean=True).start()  # an online QoS 0 subscriber
        clients.append(live)
        live.subscribe("live/#", 0)
        pub311 = Publisher(port, "pub311").start()
        pub5 = Publisher(port, "pub5", version=5).start()
        sensor = Publisher(port, "sensor", clean=True).start()
        clients += [pub311, pub5, sensor]
        wait_until(lambda: state.value("state") == "ok", what="$SYS store state ok")

        disk.fill()
        for i in range(MESSAGES):
            pub311.publish("t/a", b"311-%d" % i, 1)
        wait_until(lambda: state.value("state") == "failing", what="$SYS store state failing")
        # (A 5.0 publisher whose first PUBACK waits for the failed commit hears nothing until
        # then: acknowledgements keep their order. This one starts once the store is failing.)
        for i in range(MESSAGES):
            pub5.publish("t/b", b"5-%d" % i, 1)
        wait_until(
            lambda: len(pub5.refused()) == MESSAGES, what="the 5.0 publisher told 0x97 each time"
        )
        # QoS 0 and in-memory delivery go on while the disk is full.
        sensor.publish("live/temperature", b"21.5", 0)
        wait_until(lambda: b"21.5" in live.payloads(), what="QoS 0 delivered while full")
        assert pub311.acked() == set(), "3.1.1 publisher acknowledged on a full disk"
        assert int(state.value("failed commits") or 0) >= 1

        disk.free()
        wait_until(lambda: state.value("state") == "ok", what="store back to ok by itself")
        wait_until(lambda: len(pub311.acked()) == MESSAGES, what="held 3.1.1 messages acked")
        # The 5.0 publisher sends again what it was refused, as an application would.
        wait_until(pub5.all_acked, what="every 5.0 publish answered")
        for payload in pub5.refused():
            pub5.publish("t/b", payload, 1)
        want5 = {b"5-%d" % i for i in range(MESSAGES)}
        wait_until(lambda: pub5.acked() >= want5, what="5.0 messages accepted after retry")
        for client in clients:
            client.stop()
        clients.clear()
        if restart == "kill9":
            broker.kill9()
        else:
            broker.stop()
        log = broker.log()
        assert log.count("store: commit failed") == 1  # said once,
        assert log.count("commits succeed again") == 1  # and its end said once
        broker.start()

        expected = {b"311-%d" % i for i in range(MESSAGES)} | want5
        for client_id, version in (("sub311", 4), ("sub5", 5)):
            sub = Recorder(port, client_id, version=version).start()
            clients.append(sub)
            wait_until(
                lambda s=sub: expected <= set(s.payloads()),
                what=f"{client_id}: every acknowledged message after the restart",
            )


@pytest.mark.parametrize("ran_before", [True, False], ids=["existing-store", "fresh-store"])
def test_broker_starts_on_a_full_disk_and_resumes(
    tmp_path: Path, disk: SmallDisk, ran_before: bool
) -> None:
    """A Pi rebooting with a full card: the broker starts from what the store holds, takes
    nothing it cannot store, and becomes durable once space is freed."""
    port = free_port()
    broker = OurBroker(
        port,
        tmp_path / "broker.log",
        ["--data-dir", str(disk.path / "b"), "--sys-interval", "1"],
    )
    with _running(broker) as clients:
        if ran_before:
            broker.start()
            register(port, "sub311", "t/#", 1)
            pub = Publisher(port, "kept", clean=True).start()
            pub.publish("t/kept", b"acknowledged before", 1, retain=True)
            wait_until(pub.all_acked, what="retained message acked")
            pub.stop()
            broker.stop()
        disk.fill()
        broker.start()  # must not die of the full disk
        state = StoreState(port, "watcher", clean=True).start()
        clients.append(state)
        state.subscribe("$SYS/broker/store/#", 0)
        wait_until(lambda: state.value("state") == "failing", what="$SYS store state failing")
        pub311 = Publisher(port, "pub311").start()
        pub5 = Publisher(port, "pub5", version=5).start()
        clients += [pub311, pub5]
        for i in range(MESSAGES):
            pub311.publish("t/a", b"311-%d" % i, 1)
        pub5.publish("t/b", b"5-0", 1)
        wait_until(lambda: pub5.refused() == [b"5-0"], what="0x97 to the 5.0 publisher")
        if ran_before:  # what was acknowledged before stays deliverable
            viewer = Recorder(port, "viewer", clean=True).start()
            clients.append(viewer)
            viewer.subscribe("t/kept", 0)  # a clean session: its SUBACK need not wait
            wait_until(lambda: viewer.payloads() == [b"acknowledged before"], what="retained")
        assert pub311.acked() == set()
        if not ran_before:  # a store that could not be made leaves no empty file behind
            assert not (disk.path / "b" / "broker.db").exists()

        disk.free()
        wait_until(lambda: state.value("state") == "ok", what="store back to ok by itself")
        wait_until(lambda: len(pub311.acked()) == MESSAGES, what="held 3.1.1 messages acked")
        if not ran_before:
            register(port, "sub311", "t/#", 1)
            for i in range(MESSAGES, 2 * MESSAGES):
                pub311.publish("t/a", b"311-%d" % i, 1)
            wait_until(lambda: len(pub311.acked()) == 2 * MESSAGES, what="later messages acked")
        for client in clients:
            client.stop()
        clients.clear()
        broker.kill9()
        broker.start()
        sub = Recorder(port, "sub311").start()
        clients.append(sub)
        first = 0 if ran_before else MESSAGES
        expected = {b"311-%d" % i for i in range(first, first + MESSAGES)}
        wait_until(lambda: expected <= set(sub.payloads()), what="every acknowledged message")


def test_a_store_whose_wal_holds_data_is_read_on_a_full_disk(
    tmp_path: Path, disk: SmallDisk
) -> None:
    """After a power cut the newest commits may live only in the WAL, and without its
    shared-memory index SQLite must write one before reading: on a full disk the store is
    read from a copy in memory, and nothing is moved aside."""
    before = SqliteFile(tmp_path / "broker.db")
    before.apply([(sql.UPSERT_RETAINED, [("home/door", b"open", 1, None, None)])])
    path = disk.path / "broker.db"
    for suffix in ("", "-wal"):  # as the power cut left them: no -shm
        shutil.copyfile(f"{before.path}{suffix}", f"{path}{suffix}")
    before.close()
    assert os.path.getsize(f"{path}-wal") > 0
    disk.fill()
    db, snap = open_store(path)
    assert not db.is_open
    assert [row[:2] for row in snap.retained] == [("home/door", b"open")]
    names = os.listdir(disk.path)
    assert "broker.db-wal" in names and not [n for n in names if "damaged" in n]
    disk.free()
    db.apply(sql.PROBE)  # the first write opens it
    assert db.read().retained == snap.retained
    db.close()
