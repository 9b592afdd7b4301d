"""Fixtures for the security tests: free ports and a throwaway Mosquitto peer."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.lanloop import lan_loop  # noqa: F401  (a fixture: async clients on the LAN)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    """Block until something accepts on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Callable[[str], int]]:
    """Start Debian's mosquitto with extra config lines; returns its port.

    Used as the reference peer: files our code writes must be accepted by it.
    """
    if shutil.which("mosquitto") is None:
        pytest.skip("mosquitto not installed (deploy/dev-deps.sh installs it)")
    procs: list[subprocess.Popen] = []

    def start(extra: str) -> int:
        port = free_port()
        conf = tmp_path / f"mosquitto-{port}.conf"
        conf.write_text(
            f"listener {port} 127.0.0.1\n"
            "user root\n"  # stay root so it can read files in tmp_path
            "persistence false\n"
            "log_dest stderr\n" + extra
        )
        proc = subprocess.Popen(
            ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        procs.append(proc)
        wait_for_port(port)
        return port

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory):
    """A throwaway CA, server and client certificates (see certs.py)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    from .certs import make_pki

    return make_pki(tmp_path_factory.mktemp("pki"))


JS_DIR = Path(__file__).parent / "js"


@pytest.fixture(scope="session")
def mqttjs() -> Callable[..., dict]:
    """Runs js/roundtrip.js (MQTT.js from npm) and returns its JSON result.

    MQTT.js is installed into tests/security/js/node_modules (git-ignored) on first use from
    the committed package-lock.json (`make security-js` does the same ahead of time).
    """
    import json

    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm not installed")
    if not (JS_DIR / "node_modules" / "mqtt").is_dir():
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, capture_output=True,
            text=True, timeout=600,
        )
        if done.returncode != 0:
            pytest.skip(f"could not install MQTT.js: {done.stderr[-500:]}")

    def run(url: str, version: int, topic: str, *credentials: str, ca: Path | None = None) -> dict:
        """``ca``: a CA certificate node should trust (for wss:// to the test CA)."""
        import os

        env = dict(os.environ, NODE_EXTRA_CA_CERTS=str(ca)) if ca else None
        done = subprocess.run(
            ["node", str(JS_DIR / "roundtrip.js"), url, str(version), topic, *credentials],
            capture_output=True, text=True, timeout=120, env=env,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    return run


@pytest.fixture
def broker_thread():
    """Start our broker on a loop in a background thread: ``broker_thread(**kw)``.

    Keyword arguments go to harness.RunningBroker; returns it (``.ports``, ``.broker``).
    Everything is stopped after the test.
    """
    from .harness import LoopThread, RunningBroker

    loop = LoopThread()
    started: list[RunningBroker] = []

    def start(**kw) -> RunningBroker:
        running = loop.run(RunningBroker(**kw).start())
        running.loop = loop  # type: ignore[attr-defined]
        started.append(running)
        return running

    yield start
    for running in started:
        loop.run(running.stop())
    loop.stop()
