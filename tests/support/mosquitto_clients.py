"""Debian's mosquitto_pub and mosquitto_sub as an independent client implementation."""

from __future__ import annotations

import queue
import shutil
import subprocess
import threading
import time

import pytest

from support.ports import HOST

TIMEOUT = 15.0
# Each received message is printed as one line: MSG|topic|qos|retain|user props|payload
FORMAT = "MSG|%t|%q|%r|%P|%p"


def require_clients() -> None:
    if shutil.which("mosquitto_sub") is None or shutil.which("mosquitto_pub") is None:
        pytest.skip("mosquitto-clients not installed (deploy/dev-deps.sh installs it)")


def mosquitto_pub(port: int, version: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run mosquitto_pub to completion; fails the test on a non-zero exit."""
    cmd = ["mosquitto_pub", "-h", HOST, "-p", str(port), "-V", version, *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, f"{cmd}: {result.stdout}{result.stderr}"
    return result


class MosquittoSub:
    """A running mosquitto_sub whose received messages are read line by line."""

    def __init__(self, port: int, version: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            # stdbuf: line-buffered stdout, so each line is seen as it is printed.
            [
                "stdbuf",
                "-oL",
                "mosquitto_sub",
                "-h",
                HOST,
                "-p",
                str(port),
                "-V",
                version,
                "-d",
                "-F",
                FORMAT,
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.debug: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def _next(self, deadline: float) -> str:
        try:
            return self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(
                f"mosquitto_sub: nothing more; debug so far: {self.debug}"
            ) from None

    def wait_subscribed(self) -> MosquittoSub:
        """Block until mosquitto_sub logs the SUBACK."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            line = self._next(deadline)
            self.debug.append(line)
            if "received SUBACK" in line:
                return self

    def message(self) -> tuple[str, int, bool, str, str]:
        """The next message as (topic, qos, retain, user properties, payload)."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            line = self._next(deadline)
            if line.startswith("MSG|"):
                _, topic, qos, retain, user, payload = line.split("|", 5)
                return topic, int(qos), retain == "1", user, payload
            self.debug.append(line)

    def kill(self) -> None:
        """End it abruptly: the socket closes without DISCONNECT."""
        self.proc.kill()
        self.proc.wait(TIMEOUT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
