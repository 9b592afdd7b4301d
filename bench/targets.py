"""The targets of issue 3, section 2, checked against one run's medians.

Ratios compare figures of the same run on this machine. A check returns True (met), False
(missed) or None (cannot tell: a figure is missing, e.g. a broker could not run here).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

# medians[broker][figure key]; complete[broker][figure key]: every run of it completed
Medians = dict[str, dict[str, float]]
Complete = dict[str, dict[str, bool]]
Check = Callable[[str, Medians, Complete], bool | None]

REFERENCE = "mosquitto"
PYTHON_PEER = "amqtt"


def _get(medians: Medians, broker: str, key: str) -> float:
    return medians.get(broker, {}).get(key, math.nan)


def _throughput(key: str, duration: bool = False) -> Check:
    """>= 0.5x Mosquitto and >= 10x amqtt, and every run of ours completed. A duration
    (``duration=True``, lower is better) is compared as its inverse, a rate. A peer with no
    complete run (it stalled) cannot set a bar, so only the other comparison counts."""

    def speed(broker: str, medians: Medians) -> float:
        value = _get(medians, broker, key)
        return 1 / value if duration and value > 0 else value

    def check(ours: str, medians: Medians, complete: Complete) -> bool | None:
        if key not in complete.get(ours, {}):
            return None  # not measured (broker or workload not run)
        mine = speed(ours, medians)
        if math.isnan(mine) or not complete[ours].get(key, False):
            return False
        bars = [(REFERENCE, 0.5), (PYTHON_PEER, 10.0)]
        verdicts = [mine >= factor * speed(peer, medians) for peer, factor in bars
                    if not math.isnan(speed(peer, medians))]
        return all(verdicts) if verdicts else None

    return check


def _relative_max(key: str, factor: float) -> Check:
    def check(ours: str, medians: Medians, complete: Complete) -> bool | None:
        mine, ref = _get(medians, ours, key), _get(medians, REFERENCE, key)
        if math.isnan(mine) or math.isnan(ref):
            return None
        return mine <= factor * ref

    return check


def _absolute(key: str, limit: float, at_least: bool = False) -> Check:
    def check(ours: str, medians: Medians, complete: Complete) -> bool | None:
        mine = _get(medians, ours, key)
        if math.isnan(mine):
            return None
        return mine >= limit if at_least else mine <= limit

    return check


@dataclass(frozen=True)
class Target:
    """A target of the issue, attached to the table row it judges."""

    key: str
    text: str
    check: Check


TARGETS: dict[str, Target] = {t.key: t for t in (
    Target("fanin_q0", ">=.5x mosq, >=10x amqtt", _throughput("fanin_q0")),
    Target("fanin_q1", ">=.5x mosq, >=10x amqtt", _throughput("fanin_q1")),
    Target("fanin_q2", "completes; >=.5x, >=10x", _throughput("fanin_q2")),
    Target("fanout_q0", ">=.5x mosq, >=10x amqtt", _throughput("fanout_q0")),
    Target("many_pubs", ">=.5x mosq, >=10x amqtt", _throughput("many_pubs")),
    Target("retained_s", "<=2x mosq, <=amqtt/10", _throughput("retained_s", duration=True)),
    Target("latency_p99", "<=2x mosq", _relative_max("latency_p99", 2.0)),
    Target("rss_fresh_mb", "<=30 MB", _absolute("rss_fresh_mb", 30.0)),
    Target("rss_per_conn_kb", "<=15 KB", _absolute("rss_per_conn_kb", 15.0)),
    Target("idle_cpu_pct", "<=0.5 %", _absolute("idle_cpu_pct", 0.5)),
    Target("cold_start_s", "<=1.0 s", _absolute("cold_start_s", 1.0)),
    Target("uvloop", "uvloop when installed", _absolute("uvloop", 1.0, at_least=True)),
)}


def verdict(key: str, ours: str, medians: Medians, complete: Complete) -> bool | None:
    """The target of row ``key`` judged for broker ``ours``; None when the row has no target."""
    target = TARGETS.get(key)
    return target.check(ours, medians, complete) if target else None
