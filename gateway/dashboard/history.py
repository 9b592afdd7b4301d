"""Sensor history in SQLite: raw samples for a day, minute averages for a week.

The store is shaped for an SD card, which wears with every page written:

* Samples are buffered in memory and written in one transaction every ``flush_interval``
  seconds (five minutes by default), not one write per reading.
* Raw samples are keyed by time first, so a batch is an append to the right edge of one
  B-tree: a handful of pages per commit, whatever the number of sensors.
* Once an hour, complete minutes older than the last compaction are averaged into the
  ``minute`` table (keyed by series, so a week's plot reads one range), raw samples older
  than ``raw_keep`` and minutes older than ``minute_keep`` are deleted.
* WAL journal with ``synchronous=FULL``: a commit is a sequential append to the WAL and one
  fsync, once per flush (every five minutes): a power cut loses at most the samples since the
  last flush, never the database. (NORMAL would sync only at checkpoints, and the power-cut
  replay, tests/store/test_power_cut.py, showed that could lose hundreds of flushes.)

Everything that touches SQLite runs on one worker thread, so queries never block the event
loop and the connection is never shared between threads. Up to ``flush_interval`` seconds
of samples live only in memory; queries merge them in so plots are never behind.

The history is optional: a full disk or an unwritable file never stops the gateway. When
the database cannot be opened or written, the store says so once in the log (with the
path), keeps the newest ``max_pending`` samples in memory, tries again at every flush, and
writes them when it works again (saying that too).

Samples are stamped with the wall-clock time they arrive (a Pi without a real-time clock
may jump back when NTP syncs); a query shows what lies between ``now - span`` and now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import sqlite3
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from broker.store.private import private_dir, private_file

log = logging.getLogger(__name__)

DAY = 86_400.0
WEEK = 7 * DAY
MINUTE_MS = 60_000
#: a sample at most this much older than the last one was taken in the same burst
_BURST_MS = 1_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (id INTEGER PRIMARY KEY, topic TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS raw (
    t INTEGER NOT NULL, series INTEGER NOT NULL, v REAL NOT NULL,
    PRIMARY KEY (t, series)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS minute (
    t INTEGER NOT NULL, series INTEGER NOT NULL,
    avg REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (t, series)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class Point:
    """One plotted point: the bucket's start time (Unix seconds), average, min and max."""

    t: float
    avg: float
    min: float
    max: float

    def as_list(self) -> list[float]:
        """``[t, avg, min, max]``, the compact form the web page receives."""
        return [self.t, self.avg, self.min, self.max]


class HistoryStore:
    """Buffered, downsampled time series per topic in one SQLite file."""

    def __init__(
        self,
        path: str | Path,
        *,
        flush_interval: float = 300.0,
        compact_interval: float = 3600.0,
        raw_keep: float = DAY,
        minute_keep: float = WEEK,
        max_pending: int = 20_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.flush_interval = flush_interval
        self.compact_interval = compact_interval
        self.raw_keep = raw_keep
        self.minute_keep = minute_keep
        self.max_pending = max_pending
        self.clock = clock
        self._pending: list[tuple[int, str, float]] = []  # (t_ms, topic, value)
        self._ids: dict[str, int] = {}
        self._last_ms: dict[str, int] = {}
        self._db: sqlite3.Connection | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history")
        self._timer: asyncio.Task[None] | None = None
        self._last_compact = 0.0
        self._compacted_ms = 0
        #: the oldest sample written since the last compaction, when older than its mark
        #: (the clock went back): compaction then starts there
        self._behind_ms: int | None = None
        self.commits = 0  # batches written, for the benchmark and the tests
        #: why the database cannot be opened or written right now; None while it works
        self.problem: str | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def open(self) -> None:
        """Open (or create) the database; blocking, call before the loop serves requests.

        Raises ``sqlite3.Error`` or ``OSError`` when it cannot (a full disk), and then
        leaves none of the files it created behind."""
        files = [self.path, *(self.path.with_name(self.path.name + s) for s in ("-wal", "-shm"))]
        created = [f for f in files if not f.exists()]
        try:
            private_dir(self.path.parent)
            # readings say when somebody is home: not for other accounts
            private_file(self.path)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                # Checkpoint less often than SQLite's default 1000 pages would: fewer
                # rewrites of the same pages into the main file.
                db.execute("PRAGMA wal_autocheckpoint=2000")
                db.executescript(_SCHEMA)
                ids = dict(db.execute("SELECT topic, id FROM series"))
                row = db.execute("SELECT value FROM meta WHERE key='compacted_ms'").fetchone()
            except BaseException:
                db.close()
                raise
        except BaseException:
            # A half-created database is an empty file that would fail the same way later.
            for f in created:
                with contextlib.suppress(OSError):
                    f.unlink()
            raise
        self._ids = ids
        self._compacted_ms = row[0] if row else 0
        self._db = db
        self._last_compact = self.clock()

    async def start(self) -> None:
        """Open the database off the loop and start the flush timer. A database that
        cannot be opened (a full disk) is logged and opened again at a later flush."""
        await self._open()
        self._timer = asyncio.create_task(self._flush_loop(), name="history-flush")

    async def _open(self) -> bool:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._worker, self.open)
        except (sqlite3.Error, OSError) as exc:
            self._failed("open", exc)
            return False
        return True

    def _failed(self, doing: str, exc: BaseException) -> None:
        """Log the first failure of a run of them; the samples stay in memory."""
        if self.problem is None:
            log.warning("history: cannot %s %s: %s; keeping up to %d samples in memory and "
                        "trying again every %g s", doing, self.path, exc, self.max_pending,
                        self.flush_interval)
        self.problem = f"cannot {doing} {self.path}: {exc}"

    def _working(self) -> None:
        if self.problem is not None:
            log.info("history: writing %s again", self.path)
            self.problem = None

    async def stop(self) -> None:
        """Write what is buffered and close the database."""
        if self._timer is not None:
            self._timer.cancel()
            try:
                await self._timer
            except asyncio.CancelledError:
                pass
            self._timer = None
        await self.flush()
        await asyncio.get_running_loop().run_in_executor(self._worker, self.close)
        self._worker.shutdown(wait=True)

    def close(self) -> None:
        """Close the database (blocking; :meth:`stop` does it on the worker thread)."""
        if self._db is not None:
            db, self._db = self._db, None
            with contextlib.suppress(sqlite3.Error):  # a full disk may refuse the checkpoint
                db.close()

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await self.flush()
            except Exception:  # the timer must outlive any one bad flush
                log.exception("history: flush of %s failed", self.path)

    # --- writing -----------------------------------------------------------------------

    def add(self, topic: str, value: float, at: float | None = None) -> None:
        """Buffer one sample (loop thread, no I/O). ``at`` is Unix seconds, default now."""
        if not math.isfinite(value):
            return
        t_ms = int(round((self.clock() if at is None else at) * 1000))
        # (t, series) is the key: two samples of one topic in the same millisecond would
        # overwrite each other, so a later one moves on by a millisecond. Only that far:
        # after the clock went back (NTP at boot), samples keep the time they were taken.
        last = self._last_ms.get(topic)
        if last is not None and last - _BURST_MS < t_ms <= last:
            t_ms = last + 1
        self._last_ms[topic] = t_ms
        self._pending.append((t_ms, topic, float(value)))
        self._trim()

    def _trim(self) -> None:
        if len(self._pending) > self.max_pending:
            # A flood (or a full disk) must not grow memory without bound: keep the newest.
            del self._pending[: len(self._pending) - self.max_pending]

    async def flush(self) -> bool:
        """Write the buffered samples in one transaction (and compact when due). False
        when the database could not be opened or written: the samples are kept (up to
        ``max_pending``) for the next flush."""
        if self._db is None and not await self._open():
            self._trim()
            return False
        batch, self._pending = self._pending, []
        since = self.clock() - self._last_compact
        # Negative: the clock went back; compact now rather than a day (or a year) late.
        compact = since >= self.compact_interval or since < 0
        if not batch and not compact:
            return True
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._worker, self.write_batch, batch, compact)
        except (sqlite3.Error, OSError) as exc:
            # Keep the samples for the next attempt (a full disk may be freed meanwhile).
            self._pending[:0] = batch
            self._trim()
            self._failed("write", exc)
            return False
        if compact:
            self._last_compact = self.clock()
        self._working()
        return True

    def write_batch(self, batch: Iterable[tuple[int, str, float]], compact: bool) -> None:
        """Insert ``batch`` and optionally compact, in one transaction (worker thread).
        On failure nothing of it is stored, and the store is ready for the next try."""
        db = self._require_db()
        added: list[str] = []
        compacted_ms = self._compacted_ms
        behind = min((t for t, _, _ in batch if t < compacted_ms), default=None)
        if self._behind_ms is not None:
            behind = self._behind_ms if behind is None else min(behind, self._behind_ms)
        db.execute("BEGIN")
        try:
            rows = [(t, self._series_id(db, topic, added), v) for t, topic, v in batch]
            rows.sort()
            db.executemany("INSERT OR REPLACE INTO raw (t, series, v) VALUES (?, ?, ?)", rows)
            if compact:
                compacted_ms = self._compact(db, behind)
                behind = None
            db.execute("COMMIT")
        except BaseException:
            for topic in added:  # their rows went with the transaction
                del self._ids[topic]
            self._abandon(db)
            raise
        self._compacted_ms = compacted_ms
        self._behind_ms = behind
        self.commits += 1

    def _abandon(self, db: sqlite3.Connection) -> None:
        """Roll back a failed transaction. A failed COMMIT on a full disk may have rolled
        back already (then ROLLBACK raises) or may leave the connection unusable: then
        it is closed, and the next flush opens the database again."""
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        if db.in_transaction:
            self.close()

    def _series_id(self, db: sqlite3.Connection, topic: str, added: list[str]) -> int:
        series = self._ids.get(topic)
        if series is None:
            series = db.execute("INSERT INTO series (topic) VALUES (?)", (topic,)).lastrowid
            assert series is not None
            self._ids[topic] = series
            added.append(topic)
        return series

    def _compact(self, db: sqlite3.Connection, behind: int | None) -> int:
        """Average complete minutes, drop what is too old; returns the new compaction mark
        (kept by the caller once the transaction commits). ``behind``: the oldest sample
        written below the mark since the last compaction (the clock went back); its
        minutes are averaged again, from raw, which holds them all."""
        now_ms = int(self.clock() * 1000)
        # Only whole minutes that can no longer receive samples are averaged.
        upto = (now_ms // MINUTE_MS) * MINUTE_MS
        since = self._compacted_ms
        if behind is not None:
            since = min(since, (behind // MINUTE_MS) * MINUTE_MS)
        db.execute(
            """INSERT OR REPLACE INTO minute (t, series, avg, min, max, n)
               SELECT (t / ?) * ?, series, avg(v), min(v), max(v), count(*)
               FROM raw WHERE t >= ? AND t < ? GROUP BY t / ?, series ORDER BY 1, 2""",
            (MINUTE_MS, MINUTE_MS, since, upto, MINUTE_MS),
        )
        db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('compacted_ms', ?)", (upto,)
        )
        db.execute("DELETE FROM raw WHERE t < ?", (now_ms - int(self.raw_keep * 1000),))
        db.execute("DELETE FROM minute WHERE t < ?", (now_ms - int(self.minute_keep * 1000),))
        return upto

    def _require_db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("history store is not open")
        return self._db

    # --- reading -----------------------------------------------------------------------

    async def query(self, topic: str, span: float, points: int = 300) -> list[Point]:
        """Up to about ``points`` averaged points for ``topic`` over the last ``span`` s."""
        return (await self.query_many([topic], span, points))[topic]

    async def query_many(self, topics: list[str], span: float,
                         points: int = 300) -> dict[str, list[Point]]:
        """:meth:`query` for several topics in one pass over the tables (a page's plots
        are loaded together: one scan of the week instead of one per sensor)."""
        now_ms = int(self.clock() * 1000)
        start_ms = now_ms - int(span * 1000)
        bucket_ms = max(1000, int(span * 1000 / max(1, points)))
        wanted = set(topics)
        ids = {self._ids[t]: t for t in wanted if t in self._ids}
        loop = asyncio.get_running_loop()
        try:
            stored = await loop.run_in_executor(
                self._worker, self._read, list(ids), start_ms, now_ms, bucket_ms
            )
        except sqlite3.Error as exc:  # a damaged or vanished file: plot what is in memory
            log.warning("history: cannot read %s: %s", self.path, exc)
            stored = []
        per_topic: dict[str, list[tuple[int, float, float, float, int]]] = {t: [] for t in wanted}
        for series, *bucket in stored:
            per_topic[ids[series]].append(tuple(bucket))  # type: ignore[arg-type]
        pending: dict[str, list[tuple[int, float]]] = {t: [] for t in wanted}
        for t, topic, v in self._pending:
            # A burst moves samples a few milliseconds ahead of the clock: still "now".
            if topic in wanted and start_ms <= t <= now_ms + _BURST_MS:
                pending[topic].append((t, v))
        return {t: _merge_buckets(per_topic[t], pending[t], bucket_ms) for t in topics}

    def _read(self, series: list[int], start_ms: int, now_ms: int,
              bucket_ms: int) -> list[tuple[int, int, float, float, float, int]]:
        """Bucket sums ``(series, t, sum, min, max, n)`` from the tables (worker thread)."""
        db = self._db
        if db is None or not series:
            return []
        marks = ",".join("?" * len(series))
        # Raw rows are only deleted below (compaction time - raw_keep), so the whole span
        # is raw when it starts within raw_keep of now; otherwise minutes cover the part
        # that has been compacted and raw the rest.
        raw_from = start_ms
        rows: list[tuple[int, int, float, float, float, int]] = []
        raw_keep_ms = int(self.raw_keep * 1000)
        compacted_ms = self._compacted_ms
        if compacted_ms > now_ms:
            # The clock went back: the minutes beyond now were averaged on the old time
            # line, and raw still holds everything since now - raw_keep.
            compacted_ms = now_ms - raw_keep_ms
        if start_ms < now_ms - raw_keep_ms:
            raw_from = max(start_ms, compacted_ms)
            rows += db.execute(
                f"""SELECT series, (t / ?) * ?, sum(avg * n), min(min), max(max), sum(n)
                    FROM minute WHERE t >= ? AND t < ? AND series IN ({marks})
                    GROUP BY series, t / ?""",
                (bucket_ms, bucket_ms, start_ms, raw_from, *series, bucket_ms),
            ).fetchall()
        rows += db.execute(
            f"""SELECT series, (t / ?) * ?, sum(v), min(v), max(v), count(*) FROM raw
                WHERE t >= ? AND t <= ? AND series IN ({marks}) GROUP BY series, t / ?""",
            (bucket_ms, bucket_ms, raw_from, now_ms + _BURST_MS, *series, bucket_ms),
        ).fetchall()
        return rows

    async def last_samples(self) -> dict[str, tuple[float, float]]:
        """The newest stored sample per topic: ``{topic: (unix_seconds, value)}``."""
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._worker, self._last_samples)
        except sqlite3.Error as exc:
            log.warning("history: cannot read %s: %s", self.path, exc)
            result = {}
        for t, topic, v in self._pending:
            result[topic] = (t / 1000, v)
        return result

    def _last_samples(self) -> dict[str, tuple[float, float]]:
        db = self._db
        if db is None:
            return {}
        names = {series: topic for topic, series in self._ids.items()}
        out: dict[str, tuple[float, float]] = {}
        for series, t, v in db.execute(
            """SELECT r.series, r.t, r.v FROM raw r
               JOIN (SELECT series, max(t) AS t FROM raw GROUP BY series) m
               ON r.series = m.series AND r.t = m.t"""
        ):
            out[names[series]] = (t / 1000, v)
        return out


def _merge_buckets(
    stored: list[tuple[int, float, float, float, int]],
    pending: list[tuple[int, float]],
    bucket_ms: int,
) -> list[Point]:
    """Combine stored bucket sums with buffered samples into averaged points."""
    acc: dict[int, list[float]] = {}
    for t, total, lo, hi, n in stored:
        _accumulate(acc, t, total, lo, hi, n)
    for t, v in pending:
        _accumulate(acc, (t // bucket_ms) * bucket_ms, v, v, v, 1)
    return [
        Point(t / 1000, total / n, lo, hi)
        for t, (total, lo, hi, n) in sorted(acc.items())
        if n
    ]


def _accumulate(acc: dict[int, list[float]], t: int, total: float, lo: float, hi: float,
                n: float) -> None:
    slot = acc.get(t)
    if slot is None:
        acc[t] = [total, lo, hi, n]
    else:
        slot[0] += total
        slot[1] = min(slot[1], lo)
        slot[2] = max(slot[2], hi)
        slot[3] += n
