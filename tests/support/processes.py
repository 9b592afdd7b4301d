"""Servers in subprocesses on 127.0.0.1: this project's broker (``python -m broker``) and
Debian's mosquitto, each on a port picked free, restartable, killable as on a crash."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Self

from support.ports import HOST, accepts, free_port

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 90.0  # generous: the machine is shared and loaded


class ServerProcess:
    """A server subprocess listening on ``port`` (picked free when not given).

    Output goes to ``log_path`` when given, else nowhere. ``start`` may follow ``stop`` or
    ``kill9``: the server comes back on the same port.
    """

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        # A port picked here may be taken before the server binds it: the first start
        # then moves to another one.
        self._picked = port is None
        self.port = free_port() if port is None else port
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def _port_changed(self) -> None:
        """Hook for servers whose configuration names the port."""

    def start(self, timeout: float = TIMEOUT) -> Self:
        """Start and return once the port accepts connections."""
        for _ in range(5 if self._picked else 1):
            if self._launch(timeout):
                self._picked = False
                return self
            if not self._picked:
                break
            self.port = free_port()
            self._port_changed()
        raise RuntimeError(f"{self.command()[0]} exited:\n{self.log()[-2000:]}")

    def _launch(self, timeout: float) -> bool:
        out: IO[bytes] | int = subprocess.DEVNULL
        if self.log_path is not None:
            out = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                self.command(), stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=_env()
            )
        finally:
            if not isinstance(out, int):
                out.close()
        deadline = time.monotonic() + timeout
        while not accepts(self.port):
            if self.proc.poll() is not None:
                return False
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.command()[0]} did not start:\n{self.log()[-2000:]}")
            time.sleep(0.05)
        return True

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL: no shutdown code runs, as on a crash."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(TIMEOUT)

    def stop(self) -> None:
        """SIGTERM and wait (SIGKILL if it hangs)."""
        if not self.alive():
            return
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(TIMEOUT)

    def log(self) -> str:
        """What it printed so far ('' without a log file)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def rss_kb(self) -> int:
        """Its resident memory, from /proc."""
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")


class OurBroker(ServerProcess):
    """``python -m broker`` on 127.0.0.1 with extra CLI options."""

    def __init__(
        self, port: int | None = None, log_path: Path | None = None, args: Sequence[str] = ()
    ) -> None:
        super().__init__(port, log_path)
        self.args = list(args)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "broker", "--host", HOST, "--port", str(self.port),
                *self.args]  # fmt: skip


class Mosquitto(ServerProcess):
    """Debian's mosquitto, without persistence, with extra config lines (``extra``: e.g.
    "allow_anonymous true\\n"); the config file is ``conf`` in ``conf_dir``."""

    def __init__(
        self,
        conf_dir: Path,
        extra: str = "allow_anonymous true\n",
        port: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        super().__init__(port, log_path)
        self.conf_dir = conf_dir
        self.extra = extra
        self._port_changed()

    @staticmethod
    def available() -> bool:
        return shutil.which("mosquitto") is not None

    def _port_changed(self) -> None:
        self.conf = self.conf_dir / f"mosquitto-{self.port}.conf"
        # user root: stay root, so it can read the files tests leave in tmp_path.
        self.conf.write_text(
            f"listener {self.port} {HOST}\nuser root\npersistence false\n{self.extra}"
        )

    def command(self) -> list[str]:
        return ["mosquitto", "-c", str(self.conf)]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env
