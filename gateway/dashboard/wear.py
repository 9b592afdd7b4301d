"""How much the history store writes to the SD card: ``python -m gateway.dashboard.wear``.

Simulates sensors reporting on a fake clock (days pass in seconds) into a real SQLite file,
first long enough to reach the steady state (a full day of raw samples, so every hourly
compaction also deletes), then measures the bytes this process hands to the kernel for
writing (``wchar`` in /proc/self/io: the WAL appends, checkpoints and deletes, everything
SQLite writes) over the measured hours. Run it on the Pi to see its own figure.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gateway.dashboard.history import DAY, HistoryStore

HOUR = 3600.0


@dataclass
class WearReport:
    """The result of one simulation."""

    sensors: int
    interval: float
    flush_interval: float
    hours: float
    bytes_written: int
    commits: int
    database_bytes: int

    @property
    def bytes_per_hour(self) -> float:
        """Bytes written per hour of operation, averaged over the measured hours."""
        return self.bytes_written / self.hours

    def summary(self) -> str:
        """One paragraph for the terminal."""
        samples = self.sensors * HOUR / self.interval
        return (f"{self.sensors} sensors every {self.interval:g} s ({samples:.0f} samples/h), "
                f"batches every {self.flush_interval:g} s: "
                f"{self.bytes_per_hour / 1024:.0f} KiB written per hour "
                f"({self.bytes_per_hour * 24 * 365 / 1e9:.1f} GB per year), "
                f"{self.commits / self.hours:.0f} commits per hour; "
                f"database {self.database_bytes / 1e6:.1f} MB at steady state")


def _written() -> int:
    with open("/proc/self/io") as fh:
        for line in fh:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    raise RuntimeError("/proc/self/io has no wchar")


async def simulate(directory: Path, sensors: int = 20, interval: float = 30.0,
                   flush_interval: float = 300.0, warmup_hours: float = 26.0,
                   hours: float = 24.0) -> WearReport:
    """Run the store for ``warmup_hours`` then ``hours`` of simulated time; measure the
    second part."""
    now = [1_800_000_000.0]
    store = HistoryStore(directory / "history.sqlite3", flush_interval=flush_interval,
                         clock=lambda: now[0])
    await store.start()
    topics = [f"home/room{i // 2}/sensor{i}" for i in range(sensors)]
    step = interval / sensors  # readings spread over the interval, as real timers drift
    next_flush = now[0] + flush_interval
    start_at = now[0] + warmup_hours * HOUR
    end_at = start_at + hours * HOUR
    written_before = commits_before = None
    i = 0
    while now[0] < end_at:
        if written_before is None and now[0] >= start_at:
            written_before, commits_before = _written(), store.commits
        store.add(topics[i % sensors], 20.0 + (i % 97) / 10)
        i += 1
        now[0] += step
        if now[0] >= next_flush:
            await store.flush()
            next_flush += flush_interval
    assert written_before is not None and commits_before is not None
    written = _written() - written_before
    commits = store.commits - commits_before
    await store.stop()
    size = sum(p.stat().st_size for p in directory.glob("history.sqlite3*"))
    return WearReport(sensors, interval, flush_interval, hours, written, commits, size)


def main() -> None:
    """Command line: print the bytes written per hour for the given load."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sensors", type=int, default=20)
    parser.add_argument("--interval", type=float, default=30.0,
                        help="seconds between two readings of one sensor")
    parser.add_argument("--flush", type=float, default=300.0,
                        help="seconds between two batches (the dashboard's default)")
    parser.add_argument("--hours", type=float, default=24.0, help="hours measured")
    parser.add_argument("--warmup", type=float, default=DAY / HOUR + 2,
                        help="hours simulated before measuring")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="history-wear-") as tmp:
        report = asyncio.run(simulate(Path(tmp), args.sensors, args.interval, args.flush,
                                      args.warmup, args.hours))
    print(report.summary())


if __name__ == "__main__":
    main()
