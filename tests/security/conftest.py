"""Fixtures for the security tests: a throwaway Mosquitto peer, MQTT.js, a PKI, our broker."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.lanloop import lan_loop  # noqa: F401  (a fixture: async clients on the LAN)
from support.processes import Mosquitto


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Callable[[str], int]]:
    """Start Debian's mosquitto with extra config lines; returns its port.

    Used as the reference peer: files our code writes must be accepted by it.
    """
    if not Mosquitto.available():
        pytest.skip("mosquitto not installed (deploy/dev-deps.sh installs it)")
    servers: list[Mosquitto] = []

    def start(extra: str) -> int:
        server = Mosquitto(tmp_path, "log_dest stderr\n" + extra,
                           log_path=tmp_path / f"mosquitto-{len(servers)}.log")
        servers.append(server)
        return server.start().port

    yield start
    for server in servers:
        server.stop()


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
