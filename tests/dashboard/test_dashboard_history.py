"""The history store: batched writes, raw samples for a day, minute averages for a week,
on a fake clock so days pass in milliseconds."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from support.clock import FakeClock
from support.small_disk import SmallDisk

from broker import Broker, BrokerConfig
from gateway.dashboard import Dashboard
from gateway.dashboard.history import DAY, WEEK, HistoryStore

T0 = 1_800_000_000.0  # a fixed "now", on a whole hour
TOPIC = "home/kitchen/temperature"


def store_at(path: Path, clock: FakeClock, **options: float) -> HistoryStore:
    return HistoryStore(path / "history.sqlite3", clock=clock, flush_interval=3600,
                        **options)


def rows(path: Path, table: str) -> int:
    with sqlite3.connect(path / "history.sqlite3") as db:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_samples_are_written_in_batches_not_one_by_one(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock(T0)
        store = store_at(tmp_path, clock)
        await store.start()
        for i in range(100):
            clock.now = T0 + i
            store.add(TOPIC, 20 + i / 100)
        assert store.commits == 0 and rows(tmp_path, "raw") == 0  # nothing on disk yet
        points = await store.query(TOPIC, DAY)  # ...but already plotted from memory
        assert sum(1 for _ in points) >= 1 and points[-1].max == 20.99
        await store.flush()
        assert store.commits == 1 and rows(tmp_path, "raw") == 100
        await store.stop()

    asyncio.run(scenario())


def test_day_is_raw_week_is_minute_averages_older_is_gone(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock(T0 - 8 * DAY)
        store = store_at(tmp_path, clock, compact_interval=3600)
        await store.start()
        # Eight days of a reading every 20 s: 10 at even minutes, 20 at odd ones... plus
        # one outlier per hour, so minute min/max are checked too.
        while clock.now < T0:
            minute = int(clock.now // 60)
            value = 10.0 if minute % 2 == 0 else 20.0
            if int(clock.now) % 3600 == 0:
                value = 100.0
            store.add(TOPIC, value)
            clock.now += 20
            if int(clock.now) % 3600 == 0:
                await store.flush()  # hourly: writes and compacts
        await store.flush()
        assert rows(tmp_path, "minute") <= WEEK / 60 + 61
        raw = rows(tmp_path, "raw")
        assert DAY / 20 <= raw <= (DAY + 3600) / 20 + 1  # one day (+ up to an hour) of raw
        day = await store.query(TOPIC, DAY, points=24)
        week = await store.query(TOPIC, WEEK, points=7 * 24)
        # Hour buckets over a day: 89 tens, 90 twenties and one 100 each hour.
        assert 23 <= len(day) <= 25
        for p in day[1:-1]:
            assert p.min == 10.0 and p.max == 100.0
            assert abs(p.avg - (89 * 10 + 90 * 20 + 100) / 180) < 0.01
        # The week comes from minute averages (weighted by count), the same answer.
        assert 7 * 24 - 1 <= len(week) <= 7 * 24 + 1
        for p in week[1:-1]:
            assert p.min == 10.0 and p.max == 100.0
            assert abs(p.avg - (89 * 10 + 90 * 20 + 100) / 180) < 0.01
        with sqlite3.connect(tmp_path / "history.sqlite3") as db:
            oldest_minute, = db.execute("SELECT min(t) FROM minute").fetchone()
            oldest_raw, = db.execute("SELECT min(t) FROM raw").fetchone()
        assert oldest_minute >= (T0 - WEEK - 3600) * 1000  # the eighth day is gone
        assert oldest_raw >= (T0 - DAY - 3600) * 1000
        await store.stop()

    asyncio.run(scenario())


def test_history_survives_a_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock(T0)
        store = store_at(tmp_path, clock)
        await store.start()
        store.add(TOPIC, 21.5)
        clock.now += 30
        store.add("home/hall/door", 1.0)
        await store.stop()  # writes what is buffered

        clock.now += 600
        again = store_at(tmp_path, clock)
        await again.start()
        assert await again.last_samples() == {TOPIC: (T0, 21.5),
                                               "home/hall/door": (T0 + 30, 1.0)}
        assert [p.avg for p in await again.query(TOPIC, DAY)] == [21.5]
        await again.stop()

    asyncio.run(scenario())


def test_non_numbers_and_floods_do_not_grow_the_buffer(tmp_path: Path) -> None:
    store = store_at(tmp_path, FakeClock(T0), max_pending=100)
    store.add(TOPIC, float("nan"))
    store.add(TOPIC, float("inf"))
    for i in range(1000):
        store.add(TOPIC, float(i))
    assert len(store._pending) == 100
    assert store._pending[-1][2] == 999.0  # the newest are kept
    # Same millisecond twice: the second moves on, nothing overwritten.
    assert len({t for t, _, _ in store._pending}) == 100


# --- a full disk ------------------------------------------------------------------------
# On a real tmpfs of 2 MB, filled until the kernel says ENOSPC.


def _stored(path: Path) -> list[float]:
    with sqlite3.connect(path) as db:
        return [v for (v,) in db.execute("SELECT v FROM raw ORDER BY t")]


async def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def test_disk_full_while_running_then_freed_loses_nothing_kept(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The flush whose COMMIT fails (and whose ROLLBACK then raises) keeps its samples,
    the flush timer lives on, and once space is back everything is written."""
    caplog.set_level(logging.INFO, logger="gateway.dashboard.history")

    async def scenario(disk: SmallDisk) -> None:
        clock = FakeClock(T0)
        store = HistoryStore(disk.path / "history.sqlite3", clock=clock, flush_interval=0.05)
        await store.start()
        store.add(TOPIC, 1.0)
        await _until(lambda: store.commits == 1, "the first commit")
        disk.fill()
        # Enough samples per flush that SQLite needs new pages the disk does not have.
        values = [float(i) for i in range(2, 8_000)]
        for value in values:
            clock.now += 1
            store.add(TOPIC, value)
        await _until(lambda: store.problem is not None, "the write to fail")
        commits = store.commits
        await asyncio.sleep(0.3)  # several more failed flushes: logged once
        assert store._timer is not None and not store._timer.done()
        assert store.commits == commits
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and str(store.path) in warnings[0].getMessage()
        # Plots still show every sample, from memory.
        points = await store.query(TOPIC, DAY, points=10_000)
        assert points[-1].max == values[-1]

        disk.free()
        await _until(lambda: store.problem is None, "the store to recover")
        assert "writing" in caplog.records[-1].getMessage()
        await store.stop()
        assert _stored(store.path) == [1.0, *values]

    with SmallDisk(tmp_path / "disk") as disk:
        asyncio.run(scenario(disk))


def test_restart_on_a_full_disk_keeps_samples_in_memory(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The database exists from an earlier run; opening it now fails (WAL needs space):
    start() does not raise, samples are served from memory and written when space is back."""
    async def scenario(disk: SmallDisk) -> None:
        clock = FakeClock(T0)
        first = HistoryStore(disk.path / "history.sqlite3", clock=clock)
        await first.start()
        first.add(TOPIC, 20.0)
        await first.stop()
        disk.fill()

        clock.now += 60
        store = HistoryStore(disk.path / "history.sqlite3", clock=clock)
        await store.start()
        assert store.problem is not None and str(store.path) in store.problem
        store.add(TOPIC, 21.0)
        assert await store.flush() is False
        assert await store.last_samples() == {TOPIC: (T0 + 60, 21.0)}
        assert [p.avg for p in await store.query(TOPIC, DAY)] == [21.0]
        disk.free()
        assert await store.flush() is True
        assert await store.last_samples() == {TOPIC: (T0 + 60, 21.0)}
        await store.stop()
        assert _stored(store.path) == [20.0, 21.0]

    with SmallDisk(tmp_path / "disk") as disk:
        asyncio.run(scenario(disk))


def test_a_new_history_on_a_full_disk_leaves_no_empty_file(tmp_path: Path) -> None:
    async def scenario(disk: SmallDisk) -> None:
        disk.fill()
        store = HistoryStore(disk.path / "state" / "history.sqlite3", clock=FakeClock(T0))
        await store.start()
        assert store.problem is not None
        assert list(store.path.parent.iterdir()) == []
        store.add(TOPIC, 5.0)
        await store.stop()  # the last flush fails too, quietly
        assert list(store.path.parent.iterdir()) == []

    with SmallDisk(tmp_path / "disk") as disk:
        asyncio.run(scenario(disk))


# --- a clock without a battery ------------------------------------------------------------


def test_after_the_clock_goes_back_a_day_new_samples_are_plotted_when_read(
        tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock(T0)
        store = store_at(tmp_path, clock, compact_interval=3600)
        await store.start()
        for _ in range(120):  # an hour before the jump, on the old time line
            store.add(TOPIC, 10.0)
            clock.now += 30
        await store.flush()
        clock.now -= DAY  # NTP sets the clock back a day
        jumped = clock.now
        store.add(TOPIC, 30.0)
        clock.now += 60
        store.add(TOPIC, 32.0)

        for flushed in (False, True):
            if flushed:
                await store.flush()
            day = await store.query(TOPIC, DAY, points=24 * 60)
            # Stamped when read, shown at that time: the last point is the new reading.
            new = [(jumped, 30.0), (jumped + 60, 32.0)]
            assert [(p.t, p.avg) for p in day[-2:]] == new
            assert all(p.t <= clock.now for p in day)  # nothing from "the future"
            week = await store.query(TOPIC, WEEK, points=7 * 24 * 60)
            assert [(p.t, p.avg) for p in week[-2:]] == new
        # Compaction did not wait for the old time line to come round: the first minute
        # after the jump is averaged already.
        with sqlite3.connect(tmp_path / "history.sqlite3") as db:
            assert db.execute("SELECT avg FROM minute WHERE t = ?",
                              (int(jumped * 1000),)).fetchone() == (30.0,)
        clock.now += 3600  # the next compaction runs on the new time line
        store.add(TOPIC, 34.0)
        await store.flush()
        week = await store.query(TOPIC, WEEK, points=7 * 24 * 60)
        assert week[-1].avg == 34.0 and [p.avg for p in week[-3:-1]] == [30.0, 32.0]
        await store.stop()

    asyncio.run(scenario())


def test_api_history_plots_readings_taken_after_the_clock_went_back(tmp_path: Path) -> None:
    """Through the dashboard: readings published after NTP set the clock back a day are in
    /api/history at the time they were read (the page plots [t, avg, min, max] as sent)."""
    async def scenario() -> None:
        broker = Broker(BrokerConfig(host="127.0.0.1", port=0, sys_interval=0))
        await broker.start()
        dashboard = Dashboard(broker, 0, "127.0.0.1", tmp_path / "data")
        clock = FakeClock(T0)
        dashboard.history.clock = clock
        await dashboard.start()
        try:
            for value in ("20.0", "21.0"):
                broker.publish(TOPIC, value, retain=True)
                clock.now += 600
            await dashboard.history.flush()
            clock.now -= DAY
            broker.publish(TOPIC, "30.0", retain=True)
            url = f"http://127.0.0.1:{dashboard.port}/api/history?topic={TOPIC}"
            async with aiohttp.ClientSession() as session, session.get(url) as res:
                points = (await res.json())["series"][TOPIC]
        finally:
            await dashboard.stop()
            await broker.stop()
        t, avg, _, _ = points[-1]
        assert avg == 30.0 and clock.now - 300 <= t <= clock.now
        assert all(p[0] <= clock.now for p in points)

    asyncio.run(scenario())


def test_a_burst_in_one_millisecond_is_plotted_at_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = store_at(tmp_path, FakeClock(T0))  # the clock does not move at all
        await store.start()
        for value in (20.0, 21.0, 22.0):
            store.add(TOPIC, value)
        await store.flush()
        store.add(TOPIC, 23.0)
        (point,) = await store.query(TOPIC, DAY)
        assert (point.min, point.max, point.avg) == (20.0, 23.0, 21.5)
        await store.stop()

    asyncio.run(scenario())
