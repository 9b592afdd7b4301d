"""The brokers under test: how to start each one on a free loopback port, and stop it.

- ``ours``: this project's broker, ``python -m broker`` (uvloop when installed);
- ``ours-asyncio``: the same with ``--no-uvloop``;
- ``mosquitto``: Debian's Mosquitto with a loopback listener that allows anonymous clients;
- ``amqtt``: amqtt from PyPI, in its own virtual environment (see amqtt-requirements.txt);
- ``aedes``: aedes 1.x from npm on Node.js, the broker of the Node-RED world, from the same
  pinned install the tests use (tests/support/aedes: package-lock.json, ``npm ci``).

Every broker logs warnings only, so that none pays for per-connection log lines.
"""

from __future__ import annotations

import ctypes
import importlib.util
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import probe

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
AMQTT_VENV = HERE / ".venv-amqtt"
AEDES_DIR = REPO / "tests" / "support" / "aedes"
AMQTT_REQUIREMENTS = HERE / "amqtt-requirements.txt"

# Mosquitto's default max_queued_messages (1000) silently drops QoS 1 and 2 messages once a
# fast fan-in outruns the subscriber; a benchmark that counts deliveries would then report a
# rate for messages that never arrived. A large bound keeps it from dropping, as ours must not.
MOSQUITTO_CONF = """\
listener {port} 127.0.0.1
allow_anonymous true
max_queued_messages 1000000
persistence false
log_dest stderr
log_type error
log_type warning
"""

AMQTT_CONF = """\
listeners:
  default:
    type: tcp
    bind: 127.0.0.1:{port}
plugins:
  amqtt.plugins.authentication.AnonymousAuthPlugin:
    allow_anonymous: true
"""


@dataclass(frozen=True)
class BrokerSpec:
    """One broker of the benchmark: its name in the table and how to launch it."""

    name: str
    command: Callable[[int, Path], list[str]]  # (port, work dir) -> argv; writes its config
    unavailable: Callable[[], str | None]      # why it cannot run here, or None
    cwd: Path | None = None


def _ours_command(uvloop: bool) -> Callable[[int, Path], list[str]]:
    def command(port: int, workdir: Path) -> list[str]:
        argv = [sys.executable, "-m", "broker", "--host", "127.0.0.1", "--port", str(port),
                "--log-level", "warning"]
        return argv if uvloop else [*argv, "--no-uvloop"]

    return command


def _ours_unavailable(uvloop: bool) -> Callable[[], str | None]:
    def reason() -> str | None:
        if not (REPO / "broker" / "__main__.py").exists():
            return "broker/__main__.py not found"
        if uvloop and importlib.util.find_spec("uvloop") is None:
            return "uvloop is not installed in this Python"
        return None

    return reason


def mosquitto_path() -> str | None:
    """Where Debian's mosquitto binary is (it lives in /usr/sbin), or None."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin")


def _mosquitto_command(port: int, workdir: Path) -> list[str]:
    conf = workdir / "mosquitto.conf"
    conf.write_text(MOSQUITTO_CONF.format(port=port))
    return [mosquitto_path() or "mosquitto", "-c", str(conf)]


def _mosquitto_unavailable() -> str | None:
    return None if mosquitto_path() else "mosquitto not installed (deploy/dev-deps.sh)"


def amqtt_python() -> Path:
    """The interpreter of amqtt's virtual environment."""
    return AMQTT_VENV / "bin" / "python"


def ensure_amqtt() -> str | None:
    """Creates bench/.venv-amqtt with the pinned amqtt if needed; returns an error or None."""
    stamp = AMQTT_VENV / ".installed"
    if stamp.exists() and stamp.stat().st_mtime >= AMQTT_REQUIREMENTS.stat().st_mtime:
        return None
    steps = [[sys.executable, "-m", "venv", "--clear", str(AMQTT_VENV)],
             [str(amqtt_python()), "-m", "pip", "install", "-q", "-r", str(AMQTT_REQUIREMENTS)]]
    for step in steps:
        proc = subprocess.run(step, capture_output=True, text=True)
        if proc.returncode:
            return f"installing amqtt failed: {proc.stderr.strip().splitlines()[-1:]}"
    stamp.touch()
    return None


def _amqtt_command(port: int, workdir: Path) -> list[str]:
    conf = workdir / "amqtt.yaml"
    conf.write_text(AMQTT_CONF.format(port=port))
    return [str(amqtt_python()), str(HERE / "amqtt_launch.py"), str(conf)]


def ensure_aedes() -> str | None:
    """Installs aedes from its lock file if needed (``npm ci``); returns an error or None."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node/npm not installed (deploy/dev-deps.sh test installs nodejs)"
    if (AEDES_DIR / "node_modules" / "aedes").is_dir():
        return None
    proc = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=AEDES_DIR,
                          capture_output=True, text=True)
    if proc.returncode:
        return f"npm ci for aedes failed: {proc.stderr.strip().splitlines()[-1:]}"
    return None


def _aedes_command(port: int, workdir: Path) -> list[str]:
    # server.mjs logs one line ("listening PORT") and nothing per connection.
    return ["node", str(AEDES_DIR / "server.mjs"), str(port)]


SPECS: dict[str, BrokerSpec] = {
    "ours": BrokerSpec("ours", _ours_command(True), _ours_unavailable(True), REPO),
    "ours-asyncio": BrokerSpec("ours-asyncio", _ours_command(False), _ours_unavailable(False),
                               REPO),
    "mosquitto": BrokerSpec("mosquitto", _mosquitto_command, _mosquitto_unavailable),
    "amqtt": BrokerSpec("amqtt", _amqtt_command, ensure_amqtt),
    "aedes": BrokerSpec("aedes", _aedes_command, ensure_aedes, AEDES_DIR),
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _child_setup() -> None:
    # Room for the 10,000-connection memory figure, and no orphaned broker if we die.
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class BrokerStartError(RuntimeError):
    """A broker did not answer CONNECT in time, or exited while starting."""


class RunningBroker:
    """One broker process on a free port, with its config and log in a temporary directory."""

    def __init__(self, spec: BrokerSpec) -> None:
        self.spec = spec
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.workdir = Path(tempfile.mkdtemp(prefix=f"bench-{spec.name}-"))
        self.log_path = self.workdir / "broker.log"
        self.start_secs = float("nan")

    @property
    def pid(self) -> int:
        """The broker's process id."""
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        """Whether the broker process is still running."""
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 30.0) -> float:
        """Launches the broker and waits until it answers CONNECT.

        Returns the cold-start time: seconds from just before exec to the first CONNACK.
        """
        self.port = free_port()
        argv = self.spec.command(self.port, self.workdir)
        with open(self.log_path, "ab") as log:
            t0 = time.monotonic()
            self.proc = subprocess.Popen(argv, cwd=self.spec.cwd, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         preexec_fn=_child_setup)
        ready = probe.wait_until_serving(self.port, t0 + timeout, alive=self.alive)
        if ready is None:
            self.stop()
            raise BrokerStartError(f"{self.spec.name} did not start: {self.log_tail()}")
        self.start_secs = ready - t0
        return self.start_secs

    def stop(self, timeout: float = 10.0) -> None:
        """Stops the broker: SIGTERM, then SIGKILL if it lingers."""
        if not self.alive():
            return
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> float:
        """Stops (if needed) and starts again on a new port."""
        self.stop()
        return self.start()

    def log_tail(self, lines: int = 5) -> str:
        """The last lines of the broker's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def cleanup(self) -> None:
        """Stops the broker and removes its work directory."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> RunningBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
