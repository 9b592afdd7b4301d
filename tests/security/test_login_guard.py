"""Logins attacked from the LAN: one backoff per address and per user over every listener and
the dashboard, the 4th attempt after 3 wrong passwords waits, and password checks do not
stall the broker."""

from __future__ import annotations

import asyncio
import socket
import struct
import time

import pytest
from support.lanloop import LanLoop

from broker.auth.passwords import MAX_ITERATIONS, PasswordFile, PasswordHash

from .dashrig import (
    Rig,
    basic,
    get_json,
    password,
    rig_fixture,  # noqa: F401  (the rig fixture)
    )
from .harness import Client

REFUSED = 0x86  # paho's reason for MQTT 3.1.1 return code 4 (bad user name or password)


@pytest.fixture(autouse=True)
def long_waits(rig: Rig) -> None:
    """Waits far longer than a loaded machine can take between two attempts: a refusal
    below is the backoff, never a race with its clock."""
    guard = rig.broker.login_guard
    for table in (guard.addresses, guard.users):
        table.base_delay = table.max_delay = 600.0


def mqtt_login(rig: Rig, user: str, secret: str, *, listener: str = "lan",
               source: str = "lan") -> int:
    """CONNECT over ``listener`` (tcp or ws); the CONNACK code (0: accepted). ``source``:
    "lan" (the stranger), "host" (the host's side of the LAN: another address), or
    "loopback" (a third, over the loopback listener)."""
    ws = listener == "ws"
    if source == "loopback":
        listener = "local"
    client = Client(rig.broker.ports[listener],
                    host="127.0.0.1" if source == "loopback" else rig.lan.host_ip,
                    username=user, password=secret, transport="websockets" if ws else "tcp")
    try:
        return int((rig.lan.call(client.connect) if source == "lan" else client.connect()).value)
    finally:
        client.close()


def dashboard_status(rig: Rig, lan_loop: LanLoop | None, user: str, secret: str) -> int:
    """GET /api/state with basic auth; from the LAN, or from the host's side of it."""
    attempt = get_json(f"{rig.url}/api/state", basic(user, secret))
    status, _ = lan_loop.run(attempt) if lan_loop else rig.loop.run(attempt)
    return status


def test_one_backoff_for_tcp_ws_and_the_dashboard(rig: Rig, lan_loop: LanLoop) -> None:
    """Guesses split over the listeners count together; the dashboard counts too."""
    assert mqtt_login(rig, "phone", "guess-1") == REFUSED
    assert mqtt_login(rig, "phone", "guess-2", listener="ws") == REFUSED
    assert dashboard_status(rig, lan_loop, "phone", "guess-3") == 401
    # Three wrong passwords from this address: the right one now waits, wherever it comes.
    assert mqtt_login(rig, "phone", password("phone"), listener="ws") == REFUSED
    assert mqtt_login(rig, "reader", password("reader")) == REFUSED
    assert dashboard_status(rig, lan_loop, "phone", password("phone")) == 401
    # Another address is not held up by this one (the host's side of the LAN).
    assert mqtt_login(rig, "reader", password("reader"), source="host") == 0


def test_after_three_wrong_passwords_the_fourth_attempt_waits(rig: Rig) -> None:
    """README: after 3 failures, each further attempt from that address must wait."""
    for guess in ("a", "b"):
        assert mqtt_login(rig, "phone", guess) == REFUSED
    assert mqtt_login(rig, "phone", password("phone")) == 0  # the 3rd attempt: no wait yet
    for guess in ("a", "b", "c"):
        assert mqtt_login(rig, "phone", guess) == REFUSED
    assert mqtt_login(rig, "phone", password("phone")) == REFUSED  # the 4th waits
    assert rig.broker.login_guard.addresses.wait_remaining(rig.lan.peer_ip) > 500


def test_one_users_wrong_passwords_slow_that_user_from_new_addresses(
        rig: Rig, lan_loop: LanLoop) -> None:
    guard = rig.broker.login_guard
    guard.addresses.free_failures = 100  # this test is about the per-user table alone
    guard.users.free_failures = 1
    assert mqtt_login(rig, "phone", password("phone"), source="host") == 0  # phone's own
    for guess in ("a", "b"):
        assert mqtt_login(rig, "phone", guess) == REFUSED
    # From an address phone never used (loopback), phone's right password waits...
    assert mqtt_login(rig, "phone", password("phone"), source="loopback") == REFUSED
    # ...but not from the one it logged in from before, over MQTT or the dashboard...
    assert mqtt_login(rig, "phone", password("phone"), source="host") == 0
    assert dashboard_status(rig, None, "phone", password("phone")) == 200
    # ...and other users do not wait at all.
    assert mqtt_login(rig, "reader", password("reader"), source="loopback") == 0


# --- password checks off the event loop ---------------------------------------------------

CHECK_SECONDS = 3.0  # one wrong password's check, made slow on purpose
PING_BOUND = 1.5     # a stalled loop would hold a ping for a whole check


def slow_iterations() -> int:
    """PBKDF2 rounds that take about CHECK_SECONDS here (measured: the machine is shared)."""
    rounds = 100_000
    started = time.perf_counter()
    PasswordHash.create(b"calibrate", rounds)
    took = max(time.perf_counter() - started, 1e-4)
    return max(rounds, min(MAX_ITERATIONS, int(rounds * CHECK_SECONDS / took)))


def _packet(kind: int, body: bytes) -> bytes:
    assert len(body) < 128
    return bytes([kind, len(body)]) + body


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def connect_packet(client_id: str, user: str | None = None, secret: str = "") -> bytes:
    """An MQTT 3.1.1 CONNECT, clean session, keepalive 60."""
    flags = 0x02 | (0xC0 if user is not None else 0)
    body = _string("MQTT") + bytes([4, flags]) + struct.pack("!H", 60) + _string(client_id)
    if user is not None:
        body += _string(user) + _string(secret)
    return _packet(0x10, body)


async def spray(host: str, port: int, count: int) -> list[bytes]:
    """``count`` CONNECTs with wrong passwords at once; their CONNACKs."""
    async def one(i: int) -> bytes:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(connect_packet(f"spray-{i}", "slow", f"wrong-{i}"))
            return await asyncio.wait_for(reader.readexactly(4), 120)
        finally:
            writer.close()

    return await asyncio.gather(*(one(i) for i in range(count)))


def test_password_checks_do_not_stall_the_broker(rig: Rig, lan_loop: LanLoop) -> None:
    users = PasswordFile.load(rig.passwd)
    users.set_password("slow", "the slow user's password", iterations=slow_iterations())
    users.save(rig.passwd)
    assert rig.loop.call(rig.broker.reload)
    rig.broker.login_guard.addresses.free_failures = 100  # let every guess be checked

    pinger = socket.create_connection(("127.0.0.1", rig.broker.ports["local"]), timeout=60)
    try:
        pinger.sendall(connect_packet("pinger"))
        assert pinger.recv(4) == b"\x20\x02\x00\x00"
        attack = asyncio.run_coroutine_threadsafe(
            spray(rig.lan.host_ip, rig.mqtt_port, 4), lan_loop.loop)
        pings = []
        while not attack.done():
            started = time.monotonic()
            pinger.sendall(b"\xc0\x00")
            assert pinger.recv(2) == b"\xd0\x00"
            pings.append(time.monotonic() - started)
            time.sleep(0.05)
        assert [c[3] for c in attack.result()] == [4] * 4  # bad user name or password, all
    finally:
        pinger.close()
    assert len(pings) >= 3, "the spray ended before the pings could measure anything"
    assert max(pings) < PING_BOUND, pings
