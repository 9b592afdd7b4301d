"""One address must not lock everyone out (issue 19, point 3).

Limits apply from the TCP accept on every listener kind: connect_timeout (a TLS handshake
or WebSocket upgrade that never comes is not waited for), the per-address connection rate,
and a per-address cap on connections that have not logged in. Running out of file
descriptors is logged once per interval, and accepting resumes when descriptors free up.

The engine's admission is tested sans-IO on a fake clock; the rest against the broker as
the service runs it (a subprocess, uvloop), attacked from a LAN namespace, with a lowered
RLIMIT_NOFILE so that exhausting descriptors takes a few dozen connections, not thousands.
"""

from __future__ import annotations

import errno
import json
import logging
import re
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.clock import FakeClock
from support.lan import Lan

from broker.auth.passwords import PasswordFile
from broker.config import BrokerConfig
from broker.engine.engine import Engine
from broker.protocol import encode
from broker.protocol.packets import Connect
from broker.server.accept import DescriptorShortage

from .harness import Client

REPO = Path(__file__).resolve().parents[2]
ATTACKER = "198.18.7.2"


def _engine(**settings) -> tuple[Engine, FakeClock]:
    clock = FakeClock()
    return Engine(BrokerConfig(**settings), clock=clock), clock


# --- the admission, sans-IO ------------------------------------------------------------


def test_connect_timeout_counts_from_tcp_accept() -> None:
    engine, clock = _engine(connect_timeout=10)
    expired: list[str] = []
    handshaking = engine.admit(f"{ATTACKER}:1")  # a TLS handshake that never ends
    upgraded = engine.admit(f"{ATTACKER}:2")  # a WebSocket upgrade that took 6 s
    assert handshaking is not None and upgraded is not None
    handshaking.on_expire = lambda: expired.append("tls")
    clock.now += 6
    conn = engine.connect(f"{ATTACKER}:2", "ws", upgraded)
    clock.now += 3
    engine.tick()
    assert expired == [] and not conn.closed
    clock.now += 2  # 11 s after accept: both are over time, whatever stage they reached
    engine.tick()
    assert expired == ["tls"]
    assert conn.closed


def test_unauthenticated_connections_per_address_are_capped() -> None:
    engine, clock = _engine(max_pending_per_address=4, max_connection_rate=0)
    tickets = [engine.admit(f"{ATTACKER}:{i}") for i in range(6)]
    assert [t is not None for t in tickets] == [True] * 4 + [False] * 2
    assert engine.admission.pending(ATTACKER) == 4
    assert engine.stats.connections_refused == 2
    assert engine.admit("198.18.9.2:1") is not None  # another address has its own
    assert all(engine.admit(f"127.0.0.1:{i}") is not None for i in range(50))  # loopback
    # One of the four logs in: its place is free again.
    conn = engine.connect(f"{ATTACKER}:0", "tcp", tickets[0])
    conn.data_received(encode(Connect(client_id="node", username=None), 4))
    assert conn.session is not None
    assert engine.admit(f"{ATTACKER}:7") is not None
    assert engine.admit(f"{ATTACKER}:8") is None
    # A connection that ends before logging in frees its place as well.
    tickets[1].end()
    assert engine.admit(f"{ATTACKER}:9") is not None


def test_refusals_are_logged_once_per_interval_with_a_count(caplog) -> None:
    engine, clock = _engine(max_pending_per_address=2, max_connection_rate=0)
    caplog.set_level(logging.INFO, logger="broker")
    for i in range(1000):
        engine.admit(f"{ATTACKER}:{i}")
        clock.now += 0.01  # 10 s of attempts
    engine.tick()
    clock.now += 10
    engine.tick()
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert 2 <= len(lines) <= 3, lines
    assert all(ATTACKER in line for line in lines)
    counts = [int(re.search(r"(\d+) (?:more )?connection", line).group(1)) for line in lines]
    assert sum(counts) == 998


def test_running_out_of_descriptors_is_one_line_per_interval(caplog) -> None:
    clock = FakeClock()
    shortage = DescriptorShortage(clock)
    caplog.set_level(logging.WARNING, logger="broker")
    emfile = OSError(errno.EMFILE, "Too many open files")
    for _ in range(120):  # 30 s of failing every 0.25 s on two listeners, recovering now and then
        for listener in ("tcp", "tls"):
            shortage.failed(listener, emfile)
        shortage.recovered("tcp")
        clock.now += 0.25
    lines = [r.getMessage() for r in caplog.records]
    assert 3 <= len(lines) <= 4, lines
    counted = sum(int(re.search(r"(\d+) (?:more )?attempt", line).group(1)) for line in lines)
    assert counted <= 240 and counted >= 240 - 2 * 40  # the last interval may be unreported


# --- the broker as a service, attacked from the LAN ------------------------------------


class ServiceBroker:
    """tests/security/run_broker.py in a subprocess with an open-file limit of ``nofile``."""

    def __init__(self, tmp: Path, config: dict, nofile: int) -> None:
        self.log_path = tmp / "broker.log"
        (tmp / "broker.json").write_text(json.dumps(config))
        self._log = open(self.log_path, "wb")

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "tests/security/run_broker.py"), str(tmp / "broker.json")],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            preexec_fn=limit,
        )
        self.ports: dict[str, int] = {}
        names = {lc["name"] for lc in config["listeners"]}
        deadline = time.monotonic() + 60
        while set(self.ports) != names:
            assert self.proc.poll() is None, self.log()
            assert time.monotonic() < deadline, self.log()
            time.sleep(0.1)
            for m in re.finditer(r"listening for \w+ on [\d.]+:(\d+) \((\S+)\)", self.log()):
                self.ports[m.group(2)] = int(m.group(1))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


@pytest.fixture
def service(tmp_path: Path, pki) -> Iterator:
    started: list[ServiceBroker] = []
    users = PasswordFile()
    users.set_password("neighbour", "neighbour-password", iterations=1000)
    users.save(tmp_path / "passwd")

    def start(lan: Lan, nofile: int, **settings) -> ServiceBroker:
        secured = {"password_file": str(tmp_path / "passwd"), "host": lan.host_ip}
        tls = {"certfile": str(pki.server_cert), "keyfile": str(pki.server_key)}
        config = {
            "sys_interval": 0,
            "listeners": [
                {"name": "local", "kind": "tcp", "host": "127.0.0.1", "port": 0},
                {"name": "tcp", "kind": "tcp", "port": 0, **secured},
                {"name": "tls", "kind": "tls", "port": 0, **secured, **tls},
                {"name": "ws", "kind": "ws", "port": 0, **secured},
            ],
            **settings,
        }
        started.append(ServiceBroker(tmp_path, config, nofile))
        return started[-1]

    yield start
    for broker in started:
        broker.stop()


def _open_idle(lan: Lan, port: int, count: int) -> list[socket.socket]:
    """``count`` connections from the LAN that never send a byte (no ClientHello, no
    upgrade request, no CONNECT)."""

    def open_all() -> list[socket.socket]:
        out = []
        for _ in range(count):
            try:
                out.append(socket.create_connection((lan.host_ip, port), timeout=10))
            except OSError:
                pass  # a full accept queue may refuse some: the attack goes on
        return out

    return lan.call(open_all)


def _closed_by_server(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True  # reset


def _login(port: int, lan: Lan | None, host: str | None = None, **kw) -> int:
    """A paho client's CONNACK code (0: logged in)."""
    c = Client(port, username="neighbour", password="neighbour-password", **kw)
    if kw.get("tls") is not None:
        c.client.tls_insecure_set(True)  # the test certificate names 127.0.0.1 only
    try:
        return int(c.connect(lan, host).value)
    finally:
        c.close()


def test_idle_connections_from_one_address_lock_out_nobody(
    lan: Lan, other_lan: Lan, service, pki
) -> None:
    broker = service(lan, nofile=96, connect_timeout=4)
    attack: list[socket.socket] = []
    try:
        for kind in ("tls", "ws", "tcp"):
            attack += _open_idle(lan, broker.ports[kind], 120)
        assert len(attack) >= 300
        # The neighbour logs in on every listener kind, and so does loopback.
        tls = {"ca_certs": str(pki.ca_cert)}
        server = lan.host_ip
        assert _login(broker.ports["tcp"], other_lan, server) == 0
        assert _login(broker.ports["tls"], other_lan, server, tls=tls) == 0
        assert _login(broker.ports["ws"], other_lan, server, transport="websockets") == 0
        assert _login(broker.ports["local"], None) == 0
        # No idle connection outlives connect_timeout, TLS and WebSocket ones included.
        deadline = time.monotonic() + 30
        open_ = attack
        while open_ and time.monotonic() < deadline:
            time.sleep(0.5)
            open_ = [s for s in open_ if not _closed_by_server(s)]
        assert not open_, f"{len(open_)} idle connections still open after connect_timeout"
    finally:
        for s in attack:
            s.close()
    log = broker.log()
    assert "Too many open files" not in log
    assert len(log.splitlines()) < 60, log[-3000:]


def test_connections_dropped_for_no_connect_are_counted_not_logged_each(
    lan: Lan, service
) -> None:
    """Idle connections closed at connect_timeout, whether the TLS handshake, the WebSocket
    upgrade or the CONNECT never came, cost the journal one line per address per interval,
    with a count, not one line each."""
    broker = service(lan, nofile=256, connect_timeout=2)
    attack: list[socket.socket] = []
    try:
        for kind in ("tcp", "ws", "tls"):
            attack += _open_idle(lan, broker.ports[kind], 5)
        deadline = time.monotonic() + 30
        while attack and time.monotonic() < deadline:
            time.sleep(0.5)
            attack = [s for s in attack if not _closed_by_server(s)]
        assert not attack
    finally:
        for s in attack:
            s.close()
    dropped = [line for line in broker.log().splitlines()
               if "CONNECT" in line or "timed out" in line or "handshake" in line]
    assert 1 <= len(dropped) <= 2, dropped
    assert lan.peer_ip in dropped[0]


def test_out_of_file_descriptors_is_logged_once_per_interval_and_survived(
    lan: Lan, other_lan: Lan, service
) -> None:
    # No per-address cap or rate: the descriptors run out, which must not flood the log
    # or stop the listener for good.
    broker = service(
        lan, nofile=48, connect_timeout=60, max_pending_per_address=0, max_connection_rate=0
    )
    started = time.monotonic()
    attack = _open_idle(lan, broker.ports["tcp"], 200)
    try:
        deadline = time.monotonic() + 30
        while "Too many open files" not in broker.log():
            assert time.monotonic() < deadline, broker.log()[-3000:]
            time.sleep(0.2)
        time.sleep(12)  # over a logging interval of failed accepts
    finally:
        for s in attack:
            s.close()
    # Descriptors are free again: the listener accepts as before.
    assert _login(broker.ports["tcp"], other_lan, lan.host_ip) == 0
    assert _login(broker.ports["local"], None) == 0
    lines = [line for line in broker.log().splitlines() if "descriptors" in line]
    seconds = time.monotonic() - started
    assert 1 <= len(lines) <= seconds / 10 + 2, lines  # one line per 10 s, never per attempt
    assert re.search(r"Too many open files .*; (\d+) attempt\(s\) failed", lines[0]), lines


# --- the open file limit -----------------------------------------------------------------


def test_service_unit_leaves_room_for_the_clients() -> None:
    unit = (REPO / "deploy/systemd/sensor-gateway.service.in").read_text()
    limits = re.findall(r"^LimitNOFILE=(\d+)$", unit, re.MULTILINE)
    assert len(limits) == 1, "the unit must raise systemd's default soft limit of 1024"
    assert int(limits[0]) >= 16 * 1024


def test_broker_raises_its_soft_limit_and_warns_when_max_connections_needs_more() -> None:
    script = (
        "import logging, resource, sys\n"
        "logging.basicConfig(level='INFO', stream=sys.stdout)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, 4096))\n"
        "from broker.server.accept import raise_open_file_limit\n"
        "print('soft', raise_open_file_limit(100))\n"
        "print('soft', raise_open_file_limit(5000))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("soft 4096") == 2, done.stdout
    warnings = [line for line in done.stdout.splitlines() if "max_connections" in line]
    assert len(warnings) == 1 and "5000" in warnings[0], done.stdout
