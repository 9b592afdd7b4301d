"""aedes from npm: a real MQTT 3.1.1 broker that refuses MQTT 5 (CONNACK 0x01), for the
tests of the MQTT 5 -> 3.1.1 fallback. Installed into tests/support/aedes/node_modules
(git-ignored) from the committed package-lock.json on first use."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

AEDES_DIR = Path(__file__).resolve().parent / "aedes"


def _install() -> None:
    if (AEDES_DIR / "node_modules" / "aedes").is_dir():
        return
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node/npm missing: deploy/dev-deps.sh test installs nodejs")
    done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=AEDES_DIR,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"npm ci for aedes failed: {done.stderr[-1000:]}"


@pytest.fixture
def aedes() -> Iterator[int]:
    """An aedes broker on 127.0.0.1 (a free port); yields the port."""
    _install()
    proc = subprocess.Popen(["node", str(AEDES_DIR / "server.mjs"), "0"], cwd=AEDES_DIR,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "listening PORT" once bound
        if not line.startswith("listening "):
            proc.kill()
            raise AssertionError(f"aedes did not start: {line}{proc.communicate()[1][-1000:]}")
        yield int(line.split()[1])
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
