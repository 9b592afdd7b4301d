"""Start a broker for a test: in this process on a background loop, or as `python -m broker`."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from broker import Broker, BrokerConfig

T = TypeVar("T")

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def accepts(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port right now."""
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


class ThreadBroker:
    """A :class:`broker.Broker` on its own event loop in a daemon thread.

    Tests talk to it over TCP like any client, and reach its in-process API through
    :meth:`call`, which runs a function on the loop thread (the API is loop-thread only).
    """

    def __init__(self, **settings: Any) -> None:
        settings.setdefault("host", HOST)
        settings.setdefault("port", 0)
        settings.setdefault("sys_interval", 0)
        self.config = BrokerConfig(**settings)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.broker = Broker(self.config)
        self.port = 0

    def start(self) -> ThreadBroker:
        self.thread.start()
        self.run(self.broker.start())
        self.port = self.broker.port
        return self

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the broker's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on the loop thread and return its result."""
        done: Future[T] = Future()

        def invoke() -> None:
            try:
                done.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed back to the test thread
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(invoke)
        return done.result(30.0)

    def stop(self) -> None:
        if self.thread.is_alive():
            try:
                self.run(self.broker.stop())
            finally:
                self.loop.call_soon_threadsafe(self.loop.stop)
                self.thread.join(10)
        self.loop.close()


class ProcessBroker:
    """``python -m broker`` in a subprocess on a free port, with extra CLI options."""

    def __init__(self, *options: str, log_path: Path) -> None:
        self.options = list(options)
        self.log_path = log_path
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> ProcessBroker:
        # A port picked free may be taken before the broker binds it: try a few.
        for _ in range(5):
            self.port = free_port()
            if self._launch(timeout):
                return self
        raise RuntimeError(f"broker did not start:\n{self.log()[-2000:]}")

    def _launch(self, timeout: float) -> bool:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "broker", "--host", HOST, "--port", str(self.port)]
            + self.options,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env=env,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if accepts(self.port):
                return True
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"broker did not accept within {timeout} s:\n{self.log()[-2000:]}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
