"""Dashboard sessions attacked from the LAN: logout and password changes end sessions on the
server (live sockets included), redirects never leave the box, and with a TLS listener the
dashboard is HTTPS only, with Secure cookies."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from pathlib import Path

import aiohttp
import pytest
from support.lan import Lan
from support.lanloop import LanLoop

from broker.auth.passwords import PasswordFile
from gateway.dashboard.auth import COOKIE, SessionSigner, Users

from .dashrig import (
    TIMEOUT,
    Rig,
    basic,
    password,
    rig_fixture,  # noqa: F401  (the rig fixture)
    session,
    start_rig,
    stop_rig,
)


async def log_in(s: aiohttp.ClientSession, url: str, user: str = "phone", next_: str = "/",
                 **options: object) -> str:
    """Sign in through the form; returns the redirect's Location."""
    async with s.post(f"{url}/login", data={"username": user, "password": password(user),
                                            "next": next_},
                      allow_redirects=False, **options) as res:
        assert res.status == 302
        return res.headers["Location"]


async def status_of(url: str, cookie: str, **options: object) -> int:
    """GET /api/state with only this cookie, as a copied cookie would be replayed."""
    async with aiohttp.ClientSession() as s, s.get(
            f"{url}/api/state", headers={"Cookie": f"{COOKIE}={cookie}"}, **options) as res:
        return res.status


async def closed_within(ws: aiohttp.ClientWebSocketResponse, timeout: float = TIMEOUT) -> bool:
    """True once the server closes ``ws`` (events before the close are skipped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = await ws.receive(timeout=timeout)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                        aiohttp.WSMsgType.CLOSING):
            return True
    return False


def cookie_of(s: aiohttp.ClientSession) -> str:
    return next(c.value for c in s.cookie_jar if c.key == COOKIE)


def test_logout_ends_the_session_on_the_server(rig: Rig, lan_loop: LanLoop) -> None:
    async def attack() -> str:
        async with session() as s:
            await log_in(s, rig.url)
            stolen = cookie_of(s)  # a copy, as a shared browser or a proxy log keeps it
            assert await status_of(rig.url, stolen) == 200
            async with s.ws_connect(f"{rig.url}/api/live") as ws:
                assert (await ws.receive_json(timeout=TIMEOUT))["type"] == "state"
                async with s.post(f"{rig.url}/logout", allow_redirects=False) as res:
                    assert res.status == 302
                assert await closed_within(ws)  # the page it opened stops receiving too
            assert await status_of(rig.url, stolen) == 401
            return stolen

    stolen = lan_loop.run(attack())
    # And it stays ended after a restart: the logout is kept in the data directory.
    users = Users(rig.passwd)
    assert SessionSigner.from_data_dir(rig.dashboard.data_dir, users).check(stolen) is None


def test_changed_password_closes_live_sockets(rig: Rig, lan_loop: LanLoop) -> None:
    async def attack() -> None:
        async with session() as s, aiohttp.ClientSession() as script:
            await log_in(s, rig.url)
            page = await s.ws_connect(f"{rig.url}/api/live")
            scripted = await script.ws_connect(f"{rig.url}/api/live", headers=basic("phone"))
            other = await script.ws_connect(f"{rig.url}/api/live", headers=basic("reader"))
            for ws in (page, scripted, other):
                assert (await ws.receive_json(timeout=TIMEOUT))["type"] == "state"
            users = PasswordFile.load(rig.passwd)
            users.set_password("phone", "a changed password!", iterations=1000)
            await asyncio.to_thread(users.save, rig.passwd)  # what `gateway passwd` does
            assert await closed_within(page) and await closed_within(scripted)
            assert not other.closed  # reader's password did not change
            await other.close()

    lan_loop.run(attack())


EVIL = ["/\t/evil.example/", "/\n/evil.example/", "/\r\n/evil.example", "/\\evil.example",
        "/\\/evil.example", "//evil.example", "///evil.example", "https://evil.example/",
        "/.//evil.example", "\t//evil.example", " //evil.example", "evil.example"]


def test_next_redirects_never_leave_the_box(rig: Rig, lan_loop: LanLoop) -> None:
    async def attack() -> list[str]:
        places = []
        for target in [*EVIL, "/?room=hall"]:
            async with session() as s:
                places.append(await log_in(s, rig.url, next_=target))
        return places

    places = lan_loop.run(attack())
    assert places[:-1] == ["/"] * len(EVIL)
    assert places[-1] == "/?room=hall"  # a page of the box itself is kept


def test_https_with_the_listener_certificate_and_secure_cookies(
        lan: Lan, lan_loop: LanLoop, tmp_path: Path, pki) -> None:
    rig = start_rig(lan, tmp_path, tls=(pki.server_cert, pki.server_key))
    trust = ssl.create_default_context(cafile=str(pki.ca_cert))
    # The test certificate names localhost; the gateway is reached by its LAN address.
    tls = {"ssl": trust, "server_hostname": "localhost"}
    try:
        assert rig.url.startswith("https://")

        async def visit() -> None:
            async with session() as s:
                await log_in(s, rig.url, **tls)
                async with s.post(f"{rig.url}/login", data={
                        "username": "phone", "password": password("phone")},
                        allow_redirects=False, **tls) as res:
                    assert "Secure" in res.headers["Set-Cookie"]
                assert await status_of(rig.url, cookie_of(s), **tls) == 200
            # Nothing is served in clear text on the dashboard's port.
            with pytest.raises(aiohttp.ClientError):
                async with aiohttp.ClientSession() as s, s.get(
                        rig.url.replace("https://", "http://") + "/login") as res:
                    await res.read()

        lan_loop.run(visit())
    finally:
        stop_rig(rig)


def test_gateway_run_serves_https_with_its_tls_listener(lan: Lan, lan_loop: LanLoop,
                                                       tmp_path: Path, pki) -> None:
    """`gateway run` as the appliance runs it: a tls listener makes the dashboard HTTPS."""
    from gpiozero.pins.mock import MockFactory

    from gateway.config import parse_config
    from gateway.hardware import Hardware
    from gateway.serve import RunOptions, run

    from .harness import LoopThread

    users = PasswordFile()
    users.set_password("phone", password("phone"), iterations=1000)
    users.save(tmp_path / "passwd")
    config = parse_config(f"""
[gateway]
name = "gateway"

[[broker.listeners]]
kind = "tls"
host = "{lan.host_ip}"
port = 0
certfile = "{pki.server_cert}"
keyfile = "{pki.server_key}"
password_file = "{tmp_path / 'passwd'}"

[[room.hall]]
driver = "relay"
name = "light"
pin = 23
""")
    with socket.create_server((lan.host_ip, 0)) as probe:
        web_port = probe.getsockname()[1]
    options = RunOptions(data_dir=str(tmp_path / "data"), dashboard_port=web_port)
    hardware = Hardware(simulated=True, pin_factory=MockFactory(), seed=1)
    loop = LoopThread()
    stop = loop.call(asyncio.Event)
    ready = threading.Event()
    gateway = asyncio.run_coroutine_threadsafe(run(config, options, stop, hardware, ready.set),
                                               loop.loop)
    try:
        assert ready.wait(TIMEOUT), gateway.exception(0) if gateway.done() else "not ready"
        trust = ssl.create_default_context(cafile=str(pki.ca_cert))
        url = f"https://{lan.host_ip}:{web_port}"

        async def visit() -> None:
            async with session() as s:
                async with s.post(f"{url}/login", data={
                        "username": "phone", "password": password("phone")},
                        allow_redirects=False, ssl=trust, server_hostname="localhost") as res:
                    assert res.status == 302 and "Secure" in res.headers["Set-Cookie"]
                async with s.get(f"{url}/api/state", ssl=trust,
                                 server_hostname="localhost") as res:
                    assert res.status == 200
                    assert "home/hall/light" in {e["topic"] for e in (await res.json())[
                        "entities"]}

        lan_loop.run(visit())
    finally:
        loop.call(stop.set)
        gateway.result(TIMEOUT)
        loop.stop()
