"""Building and driving the C load generator, bench/loadgen.c."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "loadgen.c"
BUILD_DIR = HERE / "build"
BINARY = BUILD_DIR / "loadgen"
CFLAGS = ("-O2", "-Wall", "-Wextra")


class LoadgenError(RuntimeError):
    """The load generator could not be built or did not run to its report line."""


def build(source: Path = SOURCE, binary: Path = BINARY) -> Path:
    """Compile ``source`` into ``binary`` unless the binary is newer; returns its path."""
    if binary.exists() and binary.stat().st_mtime >= source.stat().st_mtime:
        return binary
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise LoadgenError("no C compiler found (install gcc: deploy/dev-deps.sh)")
    binary.parent.mkdir(parents=True, exist_ok=True)
    # Compile to a temporary name first so that concurrent builds never run a half-written file.
    fd, tmp = tempfile.mkstemp(dir=binary.parent, prefix=".loadgen-")
    os.close(fd)
    proc = subprocess.run([cc, *CFLAGS, "-o", tmp, str(source)], capture_output=True, text=True)
    if proc.returncode:
        os.unlink(tmp)
        raise LoadgenError(f"compiling {source} failed:\n{proc.stderr}")
    os.replace(tmp, binary)
    return binary


def parse_report(line: str) -> dict[str, str]:
    """Splits a ``key=value key=value`` report line into a dict."""
    return dict(word.split("=", 1) for word in line.split() if "=" in word)


@dataclass
class LoadResult:
    """One run of the load generator: its report fields and how it ended."""

    fields: dict[str, str]
    returncode: int
    stderr: str = ""
    args: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every expected message arrived (exit status 0)."""
        return self.returncode == 0

    def number(self, key: str) -> float:
        """The numeric field ``key``, or NaN when absent."""
        try:
            return float(self.fields[key])
        except (KeyError, ValueError):
            return math.nan

    def describe_failure(self) -> str:
        """A one-line account of an incomplete run, for the report's footnotes."""
        if "received" in self.fields:
            expected = self.fields.get("expected") or self.fields.get("count", "?")
            text = f"received {self.fields['received']}/{expected}"
            flaws = [f"{k} {self.fields[k]}" for k in ("dup", "gap") if self.fields.get(k, "0") != "0"]
            return text + (f" ({', '.join(flaws)})" if flaws else "")
        last = self.stderr.strip().splitlines()[-1:] or [f"exit status {self.returncode}"]
        return last[0]


def run(port: int, args: Sequence[str], timeout: float = 300.0, host: str = "127.0.0.1",
        binary: Path = BINARY) -> LoadResult:
    """Runs one workload against ``host:port`` and returns its parsed report."""
    cmd = [str(binary), "-h", host, "-p", str(port), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        return LoadResult({}, -1, f"timed out after {timeout:.0f} s: {exc}", list(args))
    lines = proc.stdout.strip().splitlines()
    fields = parse_report(lines[-1]) if lines else {}
    return LoadResult(fields, proc.returncode, proc.stderr, list(args))


class IdleClients:
    """``count`` connected, silent MQTT clients held open by one load generator process.

    Use as a context manager: entering returns once every CONNACK is in; leaving closes the
    process's stdin, which makes it disconnect and exit.
    """

    def __init__(self, port: int, count: int, keepalive: int = 60, host: str = "127.0.0.1",
                 binary: Path = BINARY, timeout: float = 180.0) -> None:
        self.cmd = [str(binary), "-h", host, "-p", str(port), "-m", "idle", "-c", str(count),
                    "-k", str(keepalive)]
        self.count = count
        self.timeout = timeout
        self.proc: subprocess.Popen[str] | None = None
        self.connect_secs = math.nan
        self.closed = 0

    def __enter__(self) -> IdleClients:
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        # loadgen gives up by itself after 120 s without progress; readline returns then.
        line = self.proc.stdout.readline()
        if not line.startswith("ready"):
            self._finish()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise LoadgenError(f"{self.count} idle clients did not connect: {err.strip()}")
        self.connect_secs = float(parse_report(line).get("secs", "nan"))
        return self

    def __exit__(self, *exc: object) -> None:
        self._finish()

    def _finish(self) -> None:
        assert self.proc is not None
        if self.proc.returncode is not None:
            return
        try:
            out, _ = self.proc.communicate(input="", timeout=self.timeout)
            self.closed = int(parse_report(out.strip().splitlines()[-1]).get("closed", 0)) \
                if out.strip() else 0
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
