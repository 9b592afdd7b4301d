"""The benchmark's pure parts: target checks, the table, report parsing, profile summaries."""

from __future__ import annotations

import math

from bench.loadgen import LoadResult, parse_report
from bench.profile import Profile, frame_name
from bench.report import fmt, missed, render
from bench.resources import FIGURES
from bench.run import medians_of
from bench.targets import verdict
from bench.workloads import WORKLOADS, figures

NAN = math.nan


def test_parse_report_splits_key_values() -> None:
    assert parse_report("mode=flow rate=123 p99_ms=1.5 junk") == {
        "mode": "flow", "rate": "123", "p99_ms": "1.5"}


def test_failure_description_names_duplicates() -> None:
    res = LoadResult({"received": "10", "expected": "5", "dup": "5", "gap": "0"}, 1)
    assert res.describe_failure() == "received 10/5 (dup 5)"
    assert math.isnan(res.number("rate"))


def test_workload_args_substitute_the_prefix() -> None:
    many = next(w for w in WORKLOADS if w.name == "many_pubs")
    args = many.args(quick=False, prefix="p1")
    assert args[args.index("-f") + 1] == "p1/+"
    assert "-d" in args and args[args.index("-d") + 1] == "2"
    assert many.args(quick=True, prefix="p1")[args.index("-d") + 1] == "0.5"


def test_medians_ignore_failed_rounds_but_remember_them() -> None:
    medians, complete = medians_of({"ours": {"fanin_q0": [3.0, NAN, 1.0], "x": [2.0]}})
    assert medians["ours"]["fanin_q0"] == 2.0
    assert complete["ours"] == {"fanin_q0": False, "x": True}


def _case(ours: float, mosq: float, amqtt: float, key: str = "fanin_q0",
          ok: bool = True) -> bool | None:
    medians = {"ours": {key: ours}, "mosquitto": {key: mosq}, "amqtt": {key: amqtt}}
    complete = {b: {key: ok if b == "ours" else True} for b in medians}
    return verdict(key, "ours", medians, complete)


def test_throughput_needs_half_of_mosquitto_and_ten_times_amqtt() -> None:
    assert _case(50, 100, 5) is True
    assert _case(49, 100, 1) is False
    assert _case(90, 100, 10) is False
    assert _case(90, 100, 5, ok=False) is False


def test_stalled_peer_sets_no_bar_but_a_stalled_ours_fails() -> None:
    assert _case(100, NAN, 5, key="fanin_q2") is True
    assert _case(NAN, 100, 5, key="fanin_q2", ok=False) is False


def test_duration_targets_compare_inverses() -> None:
    assert _case(0.2, 0.1, 2.0, key="retained_s") is True
    assert _case(0.21, 0.1, 10.0, key="retained_s") is False
    assert _case(0.2, 0.1, 1.9, key="retained_s") is False


def test_absolute_and_relative_targets() -> None:
    assert _case(29.0, NAN, NAN, key="rss_fresh_mb") is True
    assert _case(31.0, NAN, NAN, key="rss_fresh_mb") is False
    assert _case(4.0, 2.0, NAN, key="latency_p99") is True
    assert _case(4.1, 2.0, NAN, key="latency_p99") is False
    assert _case(0.0, NAN, NAN, key="uvloop") is False
    assert _case(NAN, NAN, NAN, key="idle_cpu_pct") is None
    assert _case(1.0, 1.0, 1.0, key="latency_p50") is None  # no target on that row


def test_table_shows_ratios_verdicts_and_stalls() -> None:
    rows = figures() + list(FIGURES)
    medians = {"ours": {"fanin_q0": 200.0, "fanin_q2": 50.0},
               "mosquitto": {"fanin_q0": 100.0, "fanin_q2": NAN},
               "amqtt": {"fanin_q0": 10.0, "fanin_q2": 4.0}}
    complete = {"ours": {"fanin_q0": True, "fanin_q2": True},
                "mosquitto": {"fanin_q0": True, "fanin_q2": False},
                "amqtt": {"fanin_q0": True, "fanin_q2": True}}
    text = render(rows, ["ours", "mosquitto", "amqtt"], medians, complete)
    lines = {line.split("  ")[0]: line for line in text.splitlines()}
    fanin = lines["fan-in QoS 0, 10 -> 1"]
    assert "2.00x" in fanin and "20.00x" in fanin and fanin.rstrip().endswith("yes")
    assert "incomplete" in lines["fan-in QoS 2, 10 -> 1"]
    assert missed(rows, "ours", medians, complete) == []
    plain = render(rows[:1], ["ours", "mosquitto"], medians, complete, with_targets=False)
    assert "target" not in plain and "2.00x" in plain
    assert fmt(NAN) == "-" and fmt(123456.0) == "123,456" and fmt(0.01234) == "0.012"


def test_profile_counts_self_and_inclusive_samples() -> None:
    prof = Profile()
    prof.add_collapsed([
        "main (broker/cli.py:1);run (asyncio/runners.py:9);feed (broker/codec.py:10) 3",
        "main (broker/cli.py:1);run (asyncio/runners.py:9);feed (broker/codec.py:12) 1",
        "main (broker/cli.py:1);run (asyncio/runners.py:9) 4",
        "garbage line",
    ])
    assert prof.total == 8
    assert dict(prof.top_self(2)) == {"run (asyncio/runners.py)": 50.0,
                                      "feed (broker/codec.py)": 50.0}
    # main is on every stack and says nothing; run is not project code.
    assert prof.top_inclusive(5) == [("feed (broker/codec.py)", 50.0)]
    assert frame_name("f (a.py:3)") == "f (a.py)"
