"""Where our broker spends its time under the benchmark's workloads, sampled with py-spy.

usage: python -m bench.profile [--no-uvloop] [--rate HZ] [--top N] [--workloads a,b]

Starts this project's broker, attaches `py-spy record` to it (non-blocking, CPU samples
only: time the loop sleeps in epoll is not counted) once per workload, runs the workload with
the load generator, and prints, per workload and over all of them, the functions with the
most samples on top of the stack (self) and in the stack at all (inclusive, project code
only). Samples whose top frame is the event loop's run call are time inside the loop's C code:
uvloop or asyncio's selector, socket reads and writes, and the system calls behind them.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import loadgen
from .brokers import SPECS, RunningBroker
from .workloads import WORKLOADS

DEFAULT_WORKLOADS = ("fanin_q0", "fanin_q1", "fanin_q2", "fanout_q0", "many_pubs", "retained")
_LINE_NO = re.compile(r":\d+\)$")


def frame_name(frame: str) -> str:
    """``func (path/file.py:123)`` -> ``func (path/file.py)``: lines of one function merge."""
    return _LINE_NO.sub(")", frame.strip())


@dataclass
class Profile:
    """Sample counts from py-spy's raw (collapsed stack) output."""

    total: int = 0
    self_samples: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)

    def add_collapsed(self, lines: Iterable[str]) -> None:
        """Adds ``frame;frame;...;leaf COUNT`` lines (root first, as py-spy writes them)."""
        for line in lines:
            stack, _, count = line.rstrip().rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            frames = [frame_name(f) for f in stack.split(";")]
            self.total += n
            self.self_samples[frames[-1]] += n
            for name in set(frames):
                self.inclusive[name] += n

    def merge(self, other: Profile) -> None:
        """Adds another profile's samples to this one."""
        self.total += other.total
        self.self_samples.update(other.self_samples)
        self.inclusive.update(other.inclusive)

    def top_self(self, n: int) -> list[tuple[str, float]]:
        """The ``n`` functions with the most self samples, with their share in percent."""
        return [(k, 100 * v / self.total) for k, v in self.self_samples.most_common(n)]

    def top_inclusive(self, n: int, only: str = "broker/") -> list[tuple[str, float]]:
        """The ``n`` functions of files under ``only`` most often on the stack, in percent;
        frames on every stack (the entry point) say nothing and are left out."""
        ours = Counter({k: v for k, v in self.inclusive.items()
                        if f"({only}" in k and v < 0.99 * self.total})
        return [(k, 100 * v / self.total) for k, v in ours.most_common(n)]


def record(pid: int, rate: int, out: Path) -> subprocess.Popen[bytes]:
    """Starts py-spy sampling ``pid`` into ``out`` (raw collapsed stacks)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen([py_spy, "record", "--pid", str(pid), "--rate", str(rate),
                             "--format", "raw", "--output", str(out), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def profile_workload(broker: RunningBroker, name: str, rate: int, workdir: Path,
                     min_seconds: float = 3.0) -> Profile:
    """Runs workload ``name`` (full size) against ``broker`` under py-spy, repeatedly until
    ``min_seconds`` have passed, so that short workloads (the retained storm) get samples."""
    workload = next(w for w in WORKLOADS if w.name == name)
    out = workdir / f"{name}.txt"
    spy = record(broker.pid, rate, out)
    time.sleep(0.5)  # py-spy attaches
    t0, runs = time.monotonic(), 0
    try:
        while runs == 0 or time.monotonic() - t0 < min_seconds:
            res = loadgen.run(broker.port, workload.args(False, f"prof{runs}{name}"))
            runs += 1
            shown = " ".join(f"{f.key}={res.fields.get(f.field, '?')}" for f in workload.figures)
            print(f"{name}: {shown}{'' if res.complete else ' INCOMPLETE'}", file=sys.stderr)
    finally:
        spy.send_signal(signal.SIGINT)
        _, err = spy.communicate(timeout=60)
    prof = Profile()
    if out.exists():
        prof.add_collapsed(out.read_text().splitlines())
    else:
        print(f"py-spy wrote nothing: {err.decode(errors='replace').strip()}", file=sys.stderr)
    return prof


def format_rows(rows: Sequence[tuple[str, float]]) -> str:
    """``  12.3%  func (file)`` lines."""
    return "\n".join(f"  {pct:5.1f}%  {name}" for name, pct in rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Profiles the chosen workloads and prints the summaries."""
    p = argparse.ArgumentParser(prog="python -m bench.profile")
    p.add_argument("--no-uvloop", action="store_true", help="profile ours-asyncio instead")
    p.add_argument("--rate", type=int, default=250, help="samples per second")
    p.add_argument("--top", type=int, default=12)
    p.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS))
    args = p.parse_args(argv)
    loadgen.build()
    spec = SPECS["ours-asyncio" if args.no_uvloop else "ours"]
    overall = Profile()
    with RunningBroker(spec) as broker, tempfile.TemporaryDirectory() as tmp:
        for name in args.workloads.split(","):
            prof = profile_workload(broker, name, args.rate, Path(tmp))
            overall.merge(prof)
            print(f"\n## {name}: {prof.total} samples, top self time\n"
                  f"{format_rows(prof.top_self(args.top // 2))}")
    print(f"\n## all workloads ({spec.name}): {overall.total} samples\n\nself time:\n"
          f"{format_rows(overall.top_self(args.top))}\n\ninclusive (broker/ code):\n"
          f"{format_rows(overall.top_inclusive(args.top))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
