"""Figures that need a fresh broker of their own: cold start, fresh memory, memory per idle
connection, idle CPU with connected clients, and whether uvloop is loaded."""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

from . import procstat
from .brokers import BrokerSpec, RunningBroker
from .loadgen import IdleClients, LoadgenError
from .workloads import Figure

FIGURES: tuple[Figure, ...] = (
    Figure("rss_fresh_mb", "fresh broker RSS", "MB", "", False),
    Figure("rss_per_conn_kb", "RSS per idle connection", "KB", "", False),
    Figure("idle_cpu_pct", "idle CPU, 1000 idle clients", "%core", "", False),
    Figure("cold_start_s", "cold start: exec -> CONNACK", "s", "", False),
    Figure("uvloop", "uvloop loaded (1 = yes)", "", "", True),
)


@dataclass(frozen=True)
class ResourceSettings:
    """How hard the resource measurements push; quick() is for fast checks."""

    idle_conns: int = 10_000
    cpu_conns: int = 1_000
    cpu_window: float = 10.0
    settle: float = 2.0
    cold_starts: int = 3

    @classmethod
    def quick(cls) -> ResourceSettings:
        """Fewer connections, a shorter CPU window, one cold start."""
        return cls(idle_conns=2_000, cpu_conns=1_000, cpu_window=3.0, settle=1.0, cold_starts=1)


def measure(spec: BrokerSpec, settings: ResourceSettings) -> tuple[dict[str, float], list[str]]:
    """Starts ``spec`` afresh (several times for the cold start) and measures it.

    Returns the figures by key and notes about anything that failed.
    """
    results: dict[str, float] = {f.key: math.nan for f in FIGURES}
    notes: list[str] = []
    starts: list[float] = []
    for _ in range(settings.cold_starts - 1):
        with RunningBroker(spec) as b:
            starts.append(b.start_secs)
    with RunningBroker(spec) as b:
        starts.append(b.start_secs)
        results["cold_start_s"] = statistics.median(starts)
        time.sleep(settings.settle)
        fresh = procstat.rss_kb(b.pid)
        results["rss_fresh_mb"] = fresh / 1024
        results["uvloop"] = float(procstat.has_mapped(b.pid, "uvloop"))
        try:
            with IdleClients(b.port, settings.cpu_conns):
                time.sleep(settings.settle)
                cpu0, t0 = procstat.cpu_seconds(b.pid), time.monotonic()
                time.sleep(settings.cpu_window)
                cpu = procstat.cpu_seconds(b.pid) - cpu0
                results["idle_cpu_pct"] = 100 * cpu / (time.monotonic() - t0)
                with IdleClients(b.port, settings.idle_conns - settings.cpu_conns):
                    time.sleep(settings.settle)
                    held = procstat.rss_kb(b.pid)
                    results["rss_per_conn_kb"] = (held - fresh) / settings.idle_conns
        except LoadgenError as exc:
            notes.append(f"idle connections: {exc}")
        if not b.alive():
            notes.append(f"exited during the resource measurements: {b.log_tail()}")
    return results, notes
