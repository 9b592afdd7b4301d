"""`make bench`: every broker, every workload, round-robin; one table at the end.

usage: python -m bench.run [--quick] [--rounds N] [--brokers a,b,...] [--json FILE]
                           [--no-resources] [--strict]

BENCH_QUICK=1 in the environment means --quick: one round, shorter runs, fewer idle
connections, for fast checks (figures then are rough).

Brokers run side by side, each on its own free loopback port. For each round, each workload
runs once on every broker before the next workload starts (the broker order rotates each
round), so drift on a shared machine hits every broker alike; the table shows medians over
the rounds. The resource figures (memory, idle CPU, cold start) come afterwards from fresh
broker processes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import loadgen, procstat, report, resources
from .brokers import SPECS, BrokerStartError, RunningBroker
from .machine import describe
from .workloads import WORKLOADS, Figure, Workload, figures

Samples = dict[str, dict[str, list[float]]]


def log(msg: str) -> None:
    """Progress goes to stderr, so stdout holds only the table."""
    print(msg, file=sys.stderr, flush=True)


def cpu_figure(w: Workload) -> Figure:
    """The row for the broker's CPU time per delivered message in workload ``w``: unlike a
    rate, it hardly moves when other programs compete for the machine's cores."""
    return Figure(f"{w.name}_cpu_us", f"{w.name}: CPU per delivered msg", "us", "", False)


def broker_cpu(broker: RunningBroker) -> float:
    """The broker's CPU seconds so far, NaN once its process is gone."""
    try:
        return procstat.cpu_seconds(broker.pid)
    except OSError:
        return math.nan


def ensure_running(broker: RunningBroker, where: str, notes: list[str]) -> bool:
    """Restarts a broker that exited; False (with a note) when it will not start again."""
    if broker.alive():
        return True
    notes.append(f"{where}: broker had exited ({broker.log_tail(2)}); restarting")
    try:
        broker.restart()
    except BrokerStartError as exc:
        notes.append(f"{where}: {exc}")
        return False
    return True


def run_workloads(running: dict[str, RunningBroker], rounds: int, quick: bool,
                  samples: Samples, failures: dict[str, list[str]]) -> None:
    """Runs every workload ``rounds`` times on every broker, interleaved."""
    names = list(running)
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for w in WORKLOADS:
            for name in order:
                broker = running[name]
                res = loadgen.LoadResult({}, -1, "broker not running")
                cpu = math.nan
                if ensure_running(broker, f"round {r + 1}, {w.name}", failures[name]):
                    cpu0 = broker_cpu(broker)
                    res = loadgen.run(broker.port, w.args(quick, f"b{os.getpid()}{r}{name[:2]}"))
                    cpu = broker_cpu(broker) - cpu0
                for fig in w.figures:
                    value = res.number(fig.field) if res.complete else math.nan
                    samples[name].setdefault(fig.key, []).append(value)
                delivered = res.number("received")
                samples[name].setdefault(cpu_figure(w).key, []).append(
                    1e6 * cpu / delivered if res.complete and delivered > 0 else math.nan)
                if not res.complete:
                    failures[name].append(f"round {r + 1}, {w.name}: {res.describe_failure()}")
                shown = " ".join(f"{f.key}={res.fields.get(f.field, '?')}" for f in w.figures)
                log(f"round {r + 1}/{rounds} {w.name:10s} {name:13s} {shown}"
                    f" lg_cpu={res.fields.get('lg_cpu_pct', '?')}%"
                    f"{'' if res.complete else '  INCOMPLETE'}")


def medians_of(samples: Samples) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, bool]]]:
    """Median of each figure's complete runs, and whether all its runs completed."""
    medians: dict[str, dict[str, float]] = {}
    complete: dict[str, dict[str, bool]] = {}
    for name, figs in samples.items():
        medians[name], complete[name] = {}, {}
        for key, values in figs.items():
            good = [v for v in values if not math.isnan(v)]
            medians[name][key] = statistics.median(good) if good else math.nan
            complete[name][key] = len(good) == len(values)
    return medians, complete


def start_brokers(names: Sequence[str], failures: dict[str, list[str]]) -> dict[str, RunningBroker]:
    """Starts each available broker; those that cannot run are reported and left out."""
    running: dict[str, RunningBroker] = {}
    for name in names:
        spec = SPECS[name]
        reason = spec.unavailable()
        if reason:
            log(f"skipping {name}: {reason}")
            failures[name].append(f"not run: {reason}")
            continue
        broker = RunningBroker(spec)
        try:
            secs = broker.start()
        except BrokerStartError as exc:
            log(str(exc))
            failures[name].append(str(exc))
            broker.cleanup()
            continue
        log(f"{name}: serving on 127.0.0.1:{broker.port} (pid {broker.pid}, {secs:.2f} s)")
        running[name] = broker
    return running


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", default=os.environ.get("BENCH_QUICK") == "1",
                   help="one short round (also BENCH_QUICK=1)")
    p.add_argument("--rounds", type=int, help="rounds of the message workloads (default 5, quick 1)")
    p.add_argument("--brokers", default=",".join(SPECS),
                   help=f"comma-separated subset of {','.join(SPECS)}")
    p.add_argument("--json", type=Path, help="also write every sample and median to this file")
    p.add_argument("--strict", action="store_true",
                   help="exit with status 3 when ours (uvloop) misses a target")
    p.add_argument("--no-resources", action="store_true",
                   help="skip memory, idle CPU and cold start")
    args = p.parse_args(argv)
    args.brokers = [b for b in args.brokers.split(",") if b]
    unknown = [b for b in args.brokers if b not in SPECS]
    if unknown:
        p.error(f"unknown broker(s): {', '.join(unknown)}")
    if args.rounds is None:
        args.rounds = 1 if args.quick else 5
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark and prints the table. Exit status 0 even when targets are missed
    (the table says which) unless --strict, 1 when no broker could run at all."""
    args = parse_args(argv)
    t0 = time.monotonic()
    loadgen.build()
    failures: dict[str, list[str]] = {b: [] for b in args.brokers}
    samples: Samples = {}
    running = start_brokers(args.brokers, failures)
    if not running:
        log("no broker could be started")
        return 1
    samples.update({name: {} for name in running})
    try:
        run_workloads(running, args.rounds, args.quick, samples, failures)
    finally:
        for broker in running.values():
            broker.cleanup()
    log(f"message workloads done after {time.monotonic() - t0:.0f} s")
    rows: list[Figure] = figures()
    if not args.no_resources:
        settings = resources.ResourceSettings.quick() if args.quick else resources.ResourceSettings()
        for name in running:
            log(f"{name}: cold start, memory and idle CPU")
            try:
                figs, notes = resources.measure(SPECS[name], settings)
            except BrokerStartError as exc:
                figs, notes = {f.key: math.nan for f in resources.FIGURES}, [str(exc)]
            for key, value in figs.items():
                samples[name][key] = [value]
            failures[name] += notes
        rows += resources.FIGURES
    medians, complete = medians_of(samples)
    info = describe()
    mode = "quick" if args.quick else "full"
    print(f"{info['date']}  {info['nproc']} cores  {info['cpu']}  kernel {info['kernel']}  "
          f"load {info['load_average']}  ({mode}, {args.rounds} round(s), "
          f"{time.monotonic() - t0:.0f} s)")
    print(report.render(rows, list(running), medians, complete))
    print("\nbroker CPU time per delivered message (steadier than rates on a busy machine):")
    print(report.render([cpu_figure(w) for w in WORKLOADS], list(running), medians, complete,
                        with_targets=False))
    for name, notes in failures.items():
        for note in notes:
            print(f"  {name}: {note}")
    any_missed = False
    for ours in report.OURS:
        if ours in running:
            missed = report.missed(rows, ours, medians, complete)
            any_missed |= ours == "ours" and bool(missed)
            print(f"{ours}: {'all targets met' if not missed else 'missed: ' + '; '.join(missed)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": info, "mode": mode, "rounds": args.rounds,
                                         "samples": samples, "medians": medians,
                                         "complete": complete, "failures": failures},
                                        indent=1, default=str))
    return 3 if args.strict and any_missed else 0


if __name__ == "__main__":
    sys.exit(main())
