"""Is our load generator at least as fast as the reference one? Both drive one Mosquitto.

usage: python -m bench.compare_mqload [--brokerbench PATH] [--rounds N]

Loads ../shared/tools/brokerbench.py (or PATH) and uses its own workload list and its own
run_load() to drive mqload, alternating round by round with bench/loadgen.c on the same
workload arguments (the two programs share those options), against one Mosquitto started
as `make bench` starts it. Prints both medians and loadgen's ratio to mqload: a ratio of
at least 1 on the throughput rows means the generator is not what limits the figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import sys
from pathlib import Path
from types import ModuleType

from . import loadgen
from .brokers import SPECS, RunningBroker
from .report import fmt

DEFAULT_BROKERBENCH = Path(__file__).resolve().parents[2] / "shared" / "tools" / "brokerbench.py"


def load_brokerbench(path: Path) -> ModuleType:
    """Imports brokerbench.py from ``path`` as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("brokerbench", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def median(values: list[float]) -> float:
    """Median of the non-NaN values, NaN if none."""
    good = [v for v in values if not math.isnan(v)]
    return statistics.median(good) if good else math.nan


def main(argv: list[str] | None = None) -> int:
    """Runs the comparison and prints a table; exit status 1 if a tool could not run."""
    p = argparse.ArgumentParser(prog="python -m bench.compare_mqload")
    p.add_argument("--brokerbench", type=Path, default=DEFAULT_BROKERBENCH)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    bb = load_brokerbench(args.brokerbench)
    bb.build()
    loadgen.build()
    rows = []
    with RunningBroker(SPECS["mosquitto"]) as broker:
        for wname, wargs, figure in bb.WORKLOADS:
            theirs: list[float] = []
            ours: list[float] = []
            for _ in range(args.rounds):
                kv, ok = bb.run_load(broker.port, wargs)
                theirs.append(float(kv.get(figure, "nan")) if ok else math.nan)
                # -T 5 as brokerbench gives mqload; no -o bound, as mqload has none.
                res = loadgen.run(broker.port, [*wargs.split(), "-T", "5", "-o", "1000000000"])
                ours.append(res.number(figure) if res.complete else math.nan)
                print(f"{wname:15s} mqload={kv.get(figure, '?'):>10s} ok={ok}  "
                      f"loadgen={res.fields.get(figure, '?'):>10s} ok={res.complete}",
                      file=sys.stderr, flush=True)
            rows.append((wname, figure, median(theirs), median(ours),
                         sum(not math.isnan(v) for v in theirs),
                         sum(not math.isnan(v) for v in ours)))
    print(f"{'workload (brokerbench.py)':26s} {'figure':8s} {'mqload':>10s} {'loadgen':>10s} "
          f"{'loadgen/mqload':>15s}  complete runs (mqload, loadgen) of {args.rounds}")
    for wname, figure, theirs_m, ours_m, n_theirs, n_ours in rows:
        ratio = ours_m / theirs_m if theirs_m and not math.isnan(theirs_m) else math.nan
        print(f"{wname:26s} {figure:8s} {fmt(theirs_m):>10s} {fmt(ours_m):>10s} "
              f"{fmt(ratio):>15s}  {n_theirs}, {n_ours}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
