"""The node sketch (firmware/node/node.ino) built with the ESP8266 core's host emulation and
run as a process: WiFi is the host's TCP stack, the USB cable a pseudo-terminal, and its
pins and DHT a bench the test drives over a socket (firmware/emu/emu_board.h).

Builds go to firmware/build/emu and are reused: the core (about a minute on two cores) is
compiled once, a changed sketch or config in a few seconds.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fwbuild import FIRMWARE
from support.mqtt_watch import Watcher
from support.ports import free_port

CACHE = Path(os.environ.get("FIRMWARE_EMU_BUILD", FIRMWARE / "build"))

# The test bench of every emulated node: pins and what they are wired to.
DHT_PIN = 14
DOOR_PIN = 12      # CONTACT: open reads high (pull-up)
BUTTON_PIN = 13    # BUTTON: pressed pulls low
RELAY_PIN = 5      # RELAY, active low, boot off
LAMP_PIN = 4       # LED, active high, boot restore


@dataclass(frozen=True)
class NodeConfig:
    """A node build: config.h's build options, and the settings it starts with (its
    NODE_PRESET, the text `gateway node setup` would send; preset=False: none)."""

    room: str = "kitchen"
    node_id: str = "kitchen_node"
    transport: str = "WIFI"     # or "SERIAL"
    inputs: tuple[str, ...] = (f"{DOOR_PIN}:contact:door", f"{BUTTON_PIN}:button:button")
    outputs: tuple[str, ...] = (f"{RELAY_PIN}:relay:relay:low", f"{LAMP_PIN}:led:lamp:restore")
    dht_pin: int = DHT_PIN
    keepalive: int = 5
    read_interval: int = 2
    sleep: int = 0
    preset: bool = True
    extra: dict[str, str] = field(default_factory=dict)
    version: str | None = None  # NODE_FIRMWARE_VERSION of this build (None: node.ino's)

    @property
    def name(self) -> str:
        suffix = f"_v{self.version.replace('.', '_')}" if self.version else ""
        return f"{self.node_id}_{self.transport.lower()}{suffix}"

    def settings(self) -> str:
        """The settings text, the broker's port left as $GATEWAY_PORT (emu_env.h)."""
        pins = ([f"{self.dht_pin}:dht22"] if self.dht_pin >= 0 else []) + [
            *self.inputs, *self.outputs]
        lines = [f"name={self.node_id}", f"room={self.room}", "wifi_ssid=emulated",
                 "gateway=127.0.0.1:$GATEWAY_PORT", f"interval={self.read_interval}",
                 f"sleep={self.sleep}", *(f"pin={pin}" for pin in pins)]
        return "".join(line + "\n" for line in lines)

    def header(self) -> str:
        example = (FIRMWARE / "node" / "config.example.h").read_text()
        values = {
            "NODE_TRANSPORT": f"NODE_TRANSPORT_{self.transport}",
            "MQTT_KEEPALIVE_S": str(self.keepalive),
            **self.extra,
        }
        lines = ["#include <emu_env.h>"]
        if self.version:
            lines.append(f'#define NODE_FIRMWARE_VERSION "{self.version}"')
        if self.preset:
            text = self.settings().replace("\n", "\\n")
            lines.append(f'#define NODE_PRESET emu::preset("{text}")')
        for line in example.splitlines():
            parts = line.split(None, 2)
            if len(parts) >= 2 and parts[0] == "#define" and parts[1] in values:
                lines.append(f"#define {parts[1]} {values[parts[1]]}")
                continue
            lines.append(line)
        text = "\n".join(lines) + "\n"
        for key in values:
            assert f"#define {key} " in text, f"config.example.h no longer defines {key}"
        return text


def free_port_shift() -> int:
    """A shift for the mock's servers (its option -s moves a server port below 1024 up by
    it) under which the node's set-up page (TCP 80) and DNS responder (UDP 53) land on free
    host ports: no test binds the host's own 53 or 80, and parallel nodes never share one."""
    for _ in range(100):
        shift = free_port() - 80
        if shift <= 0:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind(("0.0.0.0", 53 + shift))
            except OSError:
                continue
        return shift
    raise AssertionError("no free port pair for the node's servers")


def _write_if_changed(path: Path, text: str) -> None:
    """Keeps the file's time when nothing changed, so make rebuilds nothing."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def stage_sketch(name: str, config_h: str | None) -> Path:
    """firmware/node with ``config_h`` as its config.h, in the build cache."""
    sketch = CACHE / "emu-sketch" / name / "node"
    sketch.mkdir(parents=True, exist_ok=True)
    for source in (FIRMWARE / "node").iterdir():
        if source.suffix in (".ino", ".h") and source.name != "config.h":
            _write_if_changed(sketch / source.name, source.read_text())
    if config_h is None:
        (sketch / "config.h").unlink(missing_ok=True)
    else:
        _write_if_changed(sketch / "config.h", config_h)
    return sketch


def make_emu(sketch: Path) -> subprocess.CompletedProcess[str]:
    """Runs firmware/Makefile's emu target for ``sketch`` (one build at a time per cache)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".emu.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return subprocess.run(
            ["make", "-s", "-j2", "-C", str(FIRMWARE), f"BUILD={CACHE}", f"SKETCH={sketch}",
             "emu"],
            capture_output=True, text=True, timeout=1200,
        )


def build_node(config: NodeConfig) -> Path:
    """The emulated node's executable for ``config`` (built or brought up to date)."""
    sketch = stage_sketch(config.name, config.header())
    proc = make_emu(sketch)
    if proc.returncode != 0:
        pytest.fail(f"emulation build of {config.name} failed:\n{proc.stdout[-4000:]}\n"
                    f"{proc.stderr[-8000:]}")
    exe = CACHE / "emu" / str(sketch).lstrip("/") / "node"
    assert exe.exists(), proc.stdout
    return exe


class EmulatedNode:
    """One run of the node: power on with start(), pull the plug with kill()."""

    def __init__(self, exe: Path, port: int | None = None, uart_fd: int | None = None,
                 log: Path | None = None, flash_dir: Path | None = None) -> None:
        self.exe = exe
        # The core's EEPROM emulation keeps the node's flash sector as ./eeprom: the node's
        # stored settings live (and survive restarts) in this directory.
        self.flash_dir = flash_dir or (log.parent if log else exe.parent)
        self.port = port
        self.uart_fd = uart_fd
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.events: list[str] = []
        self._lock = threading.Lock()
        self._bench: socket.socket | None = None
        # Inputs held by the bench survive a reboot, as the wiring does.
        self._held: dict[int, int] = {}
        self._dht: dict[int, str] = {}
        self.port_shift = free_port_shift()

    def server_port(self, port: int) -> int:
        """Where the node's server on ``port`` (80, 53) listens on the host."""
        return port + self.port_shift

    def start(self) -> None:
        """Boots the node (a fresh process: nothing survives but the wiring)."""
        ours, theirs = socket.socketpair()
        self._bench = ours
        env = dict(os.environ, NODE_BENCH_FD=str(theirs.fileno()))
        pass_fds = [theirs.fileno()]
        if self.port is not None:
            env["GATEWAY_PORT"] = str(self.port)
        if self.uart_fd is not None:
            env["NODE_UART_FD"] = str(self.uart_fd)
            pass_fds.append(self.uart_fd)
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        # -S 0 -L 0: no flash file system images next to the executable.
        self.proc = subprocess.Popen(
            [str(self.exe), "-S", "0", "-L", "0", "-s", str(self.port_shift)], stdin=subprocess.DEVNULL, stdout=out,
            stderr=out, env=env, pass_fds=pass_fds, cwd=self.flash_dir)
        theirs.close()
        with self._lock:
            self.events.clear()
        threading.Thread(target=self._read_events, args=(ours,), daemon=True).start()
        for pin, level in self._held.items():
            self.bench(f"drive {pin} {level}")
        for pin, reading in self._dht.items():
            self.bench(f"dht {pin} {reading}")

    def _read_events(self, sock: socket.socket) -> None:
        pending = b""
        while True:
            try:
                chunk = sock.recv(4096)
            except OSError:
                return
            if not chunk:
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            with self._lock:
                self.events.extend(line.decode() for line in lines)

    def bench(self, command: str) -> None:
        """Sends a bench command now, if the node is powered (the wiring is kept anyway)."""
        if self._bench is not None:
            self._bench.sendall(command.encode() + b"\n")

    def drive(self, pin: int, level: int) -> None:
        """Holds an input pin at ``level`` (0 or 1)."""
        self._held[pin] = level
        self.bench(f"drive {pin} {level}")

    def dht(self, pin: int, celsius: float, humidity: float) -> None:
        self._dht[pin] = f"{celsius} {humidity}"
        self.bench(f"dht {pin} {celsius} {humidity}")

    def level(self, pin: int) -> int | None:
        """The level an output pin drives now (None before the sketch made it an output)."""
        with self._lock:
            for event in reversed(self.events):
                parts = event.split()
                if parts[:2] == ["pin", str(pin)]:
                    return int(parts[2])
        return None

    def pin_history(self, pin: int) -> list[int]:
        with self._lock:
            return [int(e.split()[2]) for e in self.events if e.split()[:2] == ["pin", str(pin)]]

    def kill(self) -> None:
        """Power cut: no DISCONNECT, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        if self._bench is not None:
            self._bench.close()
            self._bench = None

    def wait_exit(self, timeout: float = 60.0) -> int:
        """The exit status once the node ends by itself (a deep sleep)."""
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def wait_for(check, timeout: float = 30.0, what: str = "") -> None:
    """Polls ``check`` from a plain thread (generous: a loaded 2-core machine)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.02)


def gateway_command() -> str:
    """The `gateway` script of the Python running the tests (the project's venv)."""
    return str(Path(sys.executable).parent / "gateway")


class GatewayProcess:
    """`gateway run` (embedded broker, drivers, serial bridge, node announcements) as a
    child process on a fixed port, so it can be stopped and started again like the Pi."""

    def __init__(self, workdir: Path, config_text: str = "", port: int | None = None,
                 dashboard: bool = False) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.dashboard_port = free_port() if dashboard else None
        self.config = workdir / "gateway.toml"
        self.config.write_text(config_text or '[gateway]\nname = "Test Pi"\n')
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.workdir / "gateway.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [gateway_command(), "run", "-c", str(self.config), "--port", str(self.port),
             "--data-dir", str(self.workdir / "state"), "--hardware", "simulated",
             "--log-level", "debug",
             *(["--dashboard-port", str(self.dashboard_port)] if self.dashboard_port else [])],
            stdout=log, stderr=log)
        wait_for(self._listening, 60, "the gateway's broker")

    def _listening(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError((self.workdir / "gateway.log").read_text()[-3000:])
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


@contextmanager
def gateway_rig(tmp_path: Path, config_text: str = "", dashboard: bool = False,
                filters: tuple[str, ...] = ("home/#",)) -> Iterator[tuple[GatewayProcess, Watcher]]:
    """`gateway run` and a paho client watching it, both gone afterwards."""
    gateway = GatewayProcess(tmp_path, config_text, dashboard=dashboard)
    gateway.start()
    try:
        watch = Watcher(gateway.port, filters)
        try:
            wait_for(watch.subscribed.is_set, what="subscription")
            yield gateway, watch
        finally:
            watch.close()
    finally:
        gateway.stop()


@contextmanager
def wifi_rig(exe: Path, tmp_path: Path, dashboard: bool = False,
             filters: tuple[str, ...] = ("home/#",),
             ) -> Iterator[tuple[GatewayProcess, Watcher, EmulatedNode]]:
    """gateway_rig plus a WiFi node pointed at it (not yet powered: node.start())."""
    with gateway_rig(tmp_path, dashboard=dashboard, filters=filters) as (gateway, watch):
        node = EmulatedNode(exe, port=gateway.port, log=tmp_path / "node.log")
        try:
            yield gateway, watch, node
        finally:
            node.kill()
