"""The dashboard's history store recorded for power-cut replay, and the check of one cut.

The run (this file run as a script, in a child process under the write recorder): the
real :class:`HistoryStore` with a fake clock, samples of six topics added and flushed
batch by batch, an hourly compaction every 20 minutes of fake time, the store stopped
and reopened (a gateway restart: checkpoint, WAL removed) a few times, and the process
ending without closing it (power fails while it runs). After every flush the script notes
how far the write log had grown.

History runs with ``synchronous=NORMAL``: a commit is not synced, only a checkpoint syncs
the WAL. So what a power cut must keep is every sample flushed before the last sync;
what came after may be gone, but whatever is there must be whole and right, and the
file must open and take new samples.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import random
import sqlite3
import subprocess
import sys
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The project before tests/: tests/broker (no __init__.py) would otherwise shadow the broker
# package for an in-process import (tests/conftest.py puts tests/ first); the child also
# needs tests/ for support.
for _path in (str(ROOT / "tests"), str(ROOT)):
    if _path not in sys.path[:2]:
        sys.path.insert(0, _path)

from support import writelog  # noqa: E402

FILE = "history.db"
TOPICS = [f"home/room{i}/temperature" for i in range(6)]
START = 1_790_000_000.0


def value(topic: str, t_ms: int) -> float:
    """The sample stored for ``topic`` at ``t_ms``: any other value is corruption."""
    h = hashlib.sha256(f"{topic}@{t_ms}".encode()).digest()
    return int.from_bytes(h[:4], "big") / 1000.0


@dataclass
class HistoryRun:
    log: Path
    data: Path
    #: (log position after the flush, its samples as (topic, t_ms)), in order
    flushes: list[tuple[int, list[tuple[str, int]]]]
    sync_positions: list[int]

    @functools.cached_property
    def written(self) -> set[tuple[str, int]]:
        """Every sample the run flushed."""
        return {s for _, samples in self.flushes for s in samples}


def record_run(workdir: Path, lib: Path, flushes: int, seed: int) -> HistoryRun:
    """Run the history store under the recorder for ``flushes`` flushes."""
    data = workdir / "data"
    data.mkdir(parents=True)
    log = workdir / "writes.log"
    manifest = workdir / "flushes.jsonl"
    env = dict(os.environ, **writelog.environment(lib, data, log))
    subprocess.run(
        [sys.executable, __file__, str(data / FILE), str(manifest), str(log), str(flushes),
         str(seed)],
        check=True, env=env, cwd=ROOT, timeout=600,
    )
    done = []
    for line in manifest.read_text().splitlines():
        entry = json.loads(line)
        done.append((entry["at"], [tuple(s) for s in entry["samples"]]))
    records = writelog.read_log(log)
    # A sync of the directory itself keeps names, not samples.
    directory = {r.ino for r in records if r.op == writelog.OPEN and r.path == str(data.resolve())}
    syncs = [r.end for r in records
             if r.op == writelog.SYNCALL or (r.op == writelog.SYNC and r.ino not in directory)]
    return HistoryRun(log, data, done, syncs)


def required(run: HistoryRun, position: int) -> set[tuple[str, int]]:
    """The samples a power cut at ``position`` must keep: every one flushed before the
    last sync that completed before the cut."""
    synced = bisect_right(run.sync_positions, position)
    last_sync = run.sync_positions[synced - 1] if synced else -1
    return {s for at, samples in run.flushes if at < last_sync for s in samples}


def problems(run: HistoryRun, position: int, state: Path) -> list[str]:
    """What is wrong with the history a power cut at ``position`` left in ``state``."""
    from gateway.dashboard.history import HistoryStore

    out: list[str] = []
    must = required(run, position)
    written = run.written
    store = HistoryStore(state / FILE)
    try:
        store.open()
    except sqlite3.Error as exc:
        return [f"history does not open: {exc}"]
    try:
        db = sqlite3.connect(state / FILE)
        try:
            check = db.execute("PRAGMA integrity_check").fetchall()
            if check != [("ok",)]:
                out.append(f"integrity_check: {check[:3]}")
            rows = db.execute(
                "SELECT s.topic, r.t, r.v FROM raw r JOIN series s ON s.id = r.series"
            ).fetchall()
        finally:
            db.close()
        present = set()
        for topic, t, v in rows:
            present.add((topic, t))
            if (topic, t) not in written or v != value(topic, t):
                out.append(f"sample {topic}@{t} = {v} was never written")
        missing = must - present
        if missing:
            out.append(f"{len(missing)} samples flushed before the last sync are gone, "
                       f"e.g. {sorted(missing)[:3]}")
        # It must keep working: a new flush and a compaction on the recovered file.
        t_new = int((START + 10 * 86_400) * 1000)
        store.write_batch([(t_new, TOPICS[0], value(TOPICS[0], t_new))], compact=True)
    except sqlite3.Error as exc:
        out.append(f"history broken after opening: {exc}")
    finally:
        store.close()
    return out


async def _drive(path: Path, manifest: Path, log: Path, flushes: int, seed: int) -> None:
    from gateway.dashboard.history import HistoryStore

    rng = random.Random(seed)
    now = [START]

    def clock() -> float:
        return now[0]

    def open_store() -> HistoryStore:
        # Flushes are driven by hand; a compaction is due every 20 fake minutes; raw samples
        # are kept for the whole run, so every sample written is expected back.
        return HistoryStore(path, flush_interval=86_400, compact_interval=1200,
                            raw_keep=365 * 86_400, clock=clock)

    store = open_store()
    await store.start()
    restarts = {flushes * k // 5 for k in range(1, 5)}
    with manifest.open("w") as out:
        for f in range(flushes):
            if f in restarts:
                await store.stop()  # a gateway restart
                store = open_store()
                await store.start()
            samples = []
            for _ in range(rng.randint(1, 60)):
                now[0] += rng.uniform(0.05, 2.0)
                topic = rng.choice(TOPICS)
                t_ms = int(round(now[0] * 1000))
                if samples and samples[-1][1] == t_ms:
                    continue
                store.add(topic, value(topic, t_ms), at=t_ms / 1000)
                samples.append((topic, t_ms))
            await store.flush()
            out.write(json.dumps({"at": writelog.position(log), "samples": samples}) + "\n")
            out.flush()
    os._exit(0)  # power fails while it runs: no close, no checkpoint


if __name__ == "__main__":
    db_path, manifest_path, log_path, count, seed_arg = sys.argv[1:6]
    asyncio.run(_drive(Path(db_path), Path(manifest_path), Path(log_path), int(count),
                       int(seed_arg)))
