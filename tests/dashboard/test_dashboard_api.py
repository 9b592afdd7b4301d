"""The dashboard's HTTP API over real HTTP on 127.0.0.1, with an in-process broker: login
with the broker's users, state, history, switches and the live WebSocket.

``trust_loopback=False`` makes the test's own loopback requests count as coming from the
network, so every endpoint's login check is exercised."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from dash_helpers import PASSWORD, TIMEOUT, USER, write_users

from broker import Broker, BrokerConfig, Message
from broker.auth.backoff import LoginBackoff, LoginGuard
from gateway.dashboard import Dashboard

STATUS = "home/gw/status"


def config(name: str, state: str, component: str = "sensor", **extra: object) -> str:
    """A discovery config as the gateway writes it (gateway/ha_announce.py)."""
    availability = [{"topic": STATUS}]
    if component == "sensor":
        availability.append({"topic": f"{state}/availability"})
    payload = {"name": name, "state_topic": state, "availability": availability,
               "availability_mode": "all", "payload_available": "online",
               "payload_not_available": "offline", "suggested_area": extra.pop("area", None),
               "device": {"identifiers": ["gw"], "name": "Gateway"}, **extra}
    return json.dumps({k: v for k, v in payload.items() if v is not None})


HOUSE = {
    "homeassistant/sensor/gw/kitchen_temperature/config": config(
        "Kitchen temperature", "home/kitchen/temperature", unit_of_measurement="°C",
        device_class="temperature", area="Kitchen"),
    "homeassistant/sensor/gw/attic_humidity/config": config(
        "Attic humidity", "home/attic/humidity", unit_of_measurement="%", area="Attic"),
    "homeassistant/binary_sensor/gw/hall_front_door/config": config(
        "Hall front door", "home/hall/front_door", "binary_sensor", device_class="door",
        payload_on="ON", payload_off="OFF", area="Hall"),
    "homeassistant/switch/gw/hall_light/config": config(
        "Hall light", "home/hall/light", "switch", command_topic="home/hall/light/set",
        payload_on="ON", payload_off="OFF", state_on="ON", state_off="OFF", area="Hall"),
    STATUS: "online",
    "home/kitchen/temperature": "21.4",
    "home/kitchen/temperature/availability": "online",
    "home/attic/humidity": "55",
    "home/attic/humidity/availability": "offline",
    "home/hall/front_door": "ON",
    "home/hall/light": "OFF",
    "home/attic/node1/status": "online",
}


@dataclass
class Running:
    broker: Broker
    dashboard: Dashboard
    url: str
    users: Path


@contextlib.asynccontextmanager
async def running(tmp_path: Path, trust_loopback: bool = False,
                  **options: float) -> AsyncIterator[Running]:
    """A broker with the HOUSE retained, and a dashboard on a free port."""
    broker = Broker(BrokerConfig(host="127.0.0.1", port=0, sys_interval=1))
    await broker.start()
    for topic, payload in HOUSE.items():
        broker.publish(topic, payload, retain=True)
    users = write_users(tmp_path / "passwd")
    dashboard = Dashboard(broker, 0, "127.0.0.1", tmp_path / "data", users,
                          trust_loopback=trust_loopback, **options)
    await dashboard.start()
    try:
        yield Running(broker, dashboard, f"http://127.0.0.1:{dashboard.port}", users)
    finally:
        await dashboard.stop()
        await broker.stop()


def run(scenario: Callable[[Path], Awaitable[None]], tmp_path: Path) -> None:
    asyncio.run(asyncio.wait_for(scenario(tmp_path), 120))


async def login(session: aiohttp.ClientSession, url: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns where the server redirected."""
    async with session.post(f"{url}/login", data={"username": USER, "password": password,
                                                  "next": "/"},
                            allow_redirects=False) as res:
        assert res.status == 302
        return res.headers["Location"]


async def next_event(ws: aiohttp.ClientWebSocketResponse) -> dict[str, object]:
    """The next entity or remove event (health events come every few seconds between)."""
    while True:
        event = await ws.receive_json(timeout=TIMEOUT)
        if event["type"] != "health":
            return event


def client(**options: object) -> aiohttp.ClientSession:
    """A client that keeps cookies from an IP address (aiohttp's default jar refuses)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), **options)


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


# --- auth --------------------------------------------------------------------------------


def test_nothing_readable_or_switchable_without_login(tmp_path: Path) -> None:
    async def scenario(tmp: Path) -> None:
        async with running(tmp) as gw, client() as s:
            commands: list[Message] = []
            gw.broker.subscribe("home/+/+/set", commands.append)
            for path in ("/api/state", "/api/history?topic=home/kitchen/temperature"):
                async with s.get(gw.url + path) as res:
                    assert res.status == 401, path
            async with s.post(gw.url + "/api/switch",
                              json={"topic": "home/hall/light", "on": True}) as res:
                assert res.status == 401
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await s.ws_connect(gw.url + "/api/live")
            assert err.value.status == 401
            async with s.get(gw.url + "/", allow_redirects=False) as res:
                assert res.status == 302 and res.headers["Location"] == "/login"
            await asyncio.sleep(0.2)
            assert commands == []
            # What the login page and an installed home-screen icon need stays public.
            for path in ("/login", "/static/app.js", "/static/plot.js", "/static/app.css",
                         "/static/icon-192.png"):
                async with s.get(gw.url + path) as res:
                    assert res.status == 200, path
            async with s.get(gw.url + "/manifest.webmanifest") as res:
                assert res.status == 200
                assert res.headers["Content-Type"].startswith("application/manifest+json")
                manifest = json.loads(await res.text())
            assert manifest["display"] == "standalone" and manifest["start_url"] == "/"
            assert {i["sizes"] for i in manifest["icons"]} >= {"192x192", "512x512"}

    run(scenario, tmp_path)


def test_login_with_a_broker_user_and_logout(tmp_path: Path) -> None:
    async def scenario(tmp: Path) -> None:
        async with running(tmp) as gw, client() as s:
            assert await login(s, gw.url, "wrong") == "/login?failed=1"
            async with s.get(gw.url + "/api/state") as res:
                assert res.status == 401
            assert await login(s, gw.url) == "/"
            cookie = next(c for c in s.cookie_jar if c.key == "gw_session")
            assert cookie["httponly"] and cookie["samesite"] == "Strict"
            async with s.get(gw.url + "/api/state") as res:
                assert res.status == 200
                assert (await res.json())["user"] == USER
            async with s.get(gw.url + "/") as res:
                assert res.status == 200 and "<main id=\"rooms\"" in await res.text()
            async with s.post(gw.url + "/logout", allow_redirects=False) as res:
                assert res.status == 302
            async with s.get(gw.url + "/api/state") as res:
                assert res.status == 401

    run(scenario, tmp_path)


def test_basic_auth_for_scripts_and_backoff_after_wrong_passwords(tmp_path: Path) -> None:
    async def scenario(tmp: Path) -> None:
        async with running(tmp) as gw, client() as s:
            async with s.get(gw.url + "/api/state", headers=basic(USER, PASSWORD)) as res:
                assert res.status == 200
            async with s.get(gw.url + "/api/state", headers=basic(USER, "nope")) as res:
                assert res.status == 401
            # A long wait after the free failures, so a slow machine cannot outlast it.
            gw.dashboard.guard = LoginGuard(LoginBackoff(free_failures=2, base_delay=600))
            for _ in range(3):
                await login(s, gw.url, "guess")
            assert await login(s, gw.url) == "/login?failed=1"  # right, but must wait

    run(scenario, tmp_path)


def test_changing_the_password_ends_sessions(tmp_path: Path) -> None:
    async def scenario(tmp: Path) -> None:
        async with running(tmp) as gw, client() as s:
            await login(s, gw.url)
            async with s.get(gw.url + "/api/state") as res:
                assert res.status == 200
            write_users(gw.users, {USER: "a new password"})
            async with s.get(gw.url + "/api/state") as res:
                assert res.status == 401
            async with s.get(gw.url + "/api/state",
                             headers=basic(USER, "a new password")) as res:
                assert res.status == 200

    run(scenario, tmp_path)


def test_loopback_needs_no_login(tmp_path: Path) -> None:
    async def scenario(tmp: Path) -> None:
        async with running(tmp, trust_loopback=True) as gw, client() as s:
            async with s.get(gw.url + "/api/state") as res:
                assert res.status == 200
                assert (await res.json())["user"] == "(local)"
            # ...but not for a page whose name was rebound to 127.0.0.1 (DNS rebinding).
            async with s.get(gw.url + "/api/state", headers={"Host": "evil.example"}) as res:
                assert res.status == 401
            for host in ("localhost", f"localhost:{gw.dashboard.port}", "[::1]:80"):
                async with s.get(gw.url + "/api/state", headers={"Host": host}) as res:
                    assert res.status == 200, host
            # Nor may another site's page open the live socket through the visitor's browser.
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await s.ws_connect(gw.url + "/api/live", origin="http://evil.example")
            assert err.value.status == 403
            async with s.ws_connect(gw.url + "/api/live", origin=gw.url) as ws:
                assert (await ws.receive_json(timeout=TIMEOUT))["type"] == "state"

    run(scenario, tmp_path)


# --- state ---------------------------------------------------------------------------------


def test_state_has_rooms_units_binary_states_availability_and_health(tmp_path: Path) -> None:
    async def scenario(tmp: Path) -> None:
        async with running(tmp) as gw, client(headers=basic(USER, PASSWORD)) as s:
            await asyncio.sleep(1.5)  # one $SYS round
            async with s.get(gw.url + "/api/state") as res:
                state = await res.json()
        entities = {e["topic"]: e for e in state["entities"]}
        kitchen = entities["home/kitchen/temperature"]
        assert (kitchen["room_title"], kitchen["name"], kitchen["value"], kitchen["unit"],
                kitchen["online"]) == ("Kitchen", "Temperature", "21.4", "°C", True)
        assert entities["home/attic/humidity"]["online"] is False  # its availability says so
        door = entities["home/hall/front_door"]
        assert (door["kind"], door["device_class"], door["on"]) == ("binary_sensor", "door", True)
        light = entities["home/hall/light"]
        assert light["switchable"] and light["on"] is False
        assert not entities["home/kitchen/temperature"]["switchable"]
        # Retained values carry no time, so the page shows no age rather than a wrong one.
        assert kitchen["updated"] is None
        # Cards in room order.
        assert [e["room_title"] for e in state["entities"]] == sorted(
            e["room_title"] for e in state["entities"])
        health = state["health"]
        assert {"topic": "home/attic/node1/status", "online": True} in health["nodes"]
        assert health["broker"]["broker_uptime"] is not None
        assert health["machine"]["disk_free"] > 0

    run(scenario, tmp_path)


def test_gateway_going_offline_marks_its_sensors_offline(tmp_path: Path) -> None:
    async def scenario(tmp: Path) -> None:
        async with running(tmp) as gw, client(headers=basic(USER, PASSWORD)) as s:
            gw.broker.publish(STATUS, "offline", retain=True)
            async with s.get(gw.url + "/api/state") as res:
                entities = {e["topic"]: e for e in (await res.json())["entities"]}
        assert entities["home/kitchen/temperature"]["online"] is False
        assert entities["home/hall/light"]["online"] is False

    run(scenario, tmp_path)


# --- history -------------------------------------------------------------------------------


def test_history_returns_averaged_points(tmp_path: Path) -> None:
    async def scenario(tmp: Path) -> None:
        async with running(tmp) as gw, client(headers=basic(USER, PASSWORD)) as s:
            for value in ("20.0", "21.0", "22.0"):
                gw.broker.publish("home/kitchen/temperature", value, retain=True)
            await gw.dashboard.history.flush()  # some written, one still buffered:
            gw.broker.publish("home/kitchen/temperature", "23.0", retain=True)
            url = gw.url + "/api/history?topic=home/kitchen/temperature"
            async with s.get(url) as res:
                day = await res.json()
            async with s.get(url + "&range=7d") as res:
                week = await res.json()
            async with s.get(url + "&range=1y") as res:
                assert res.status == 400
            async with s.get(gw.url + "/api/history?topic=home/nowhere") as res:
                assert res.status == 404
            # All of a page's plots in one request.
            async with s.get(url + "&topic=home/attic/humidity") as res:
                both = (await res.json())["series"]
        assert day["range"] == "24h" and week["range"] == "7d"
        assert both["home/kitchen/temperature"] == day["series"]["home/kitchen/temperature"]
        assert both["home/attic/humidity"] == []  # only retained so far: no history
        for reply in (day, week):
            points = reply["series"]["home/kitchen/temperature"]
            # Five-minute (or 35-minute) buckets: the four readings fall in one or two.
            assert 1 <= len(points) <= 2
            total = sum(p[1] for p in points) / len(points)
            assert min(p[2] for p in points) == 20.0 and max(p[3] for p in points) == 23.0
            assert 20.0 <= total <= 23.0

    run(scenario, tmp_path)


# --- switches -------------------------------------------------------------------------------


def test_switch_publishes_the_command_and_the_echo_confirms_it(tmp_path: Path) -> None:
    async def scenario(tmp: Path) -> None:
        async with running(tmp) as gw, client(headers=basic(USER, PASSWORD)) as s:
            commands: list[Message] = []

            def relay(msg: Message) -> None:  # the relay driver: apply, echo retained
                commands.append(msg)
                gw.broker.publish("home/hall/light", msg.payload, retain=True)

            gw.broker.subscribe("home/hall/light/set", relay)
            async with s.post(gw.url + "/api/switch",
                              json={"topic": "home/hall/light", "on": True}) as res:
                assert res.status == 202
                assert await res.json() == {"command_topic": "home/hall/light/set",
                                            "payload": "ON"}
            assert [(m.payload, m.retain) for m in commands] == [(b"ON", False)]
            async with s.get(gw.url + "/api/state") as res:
                entities = {e["topic"]: e for e in (await res.json())["entities"]}
            assert entities["home/hall/light"]["on"] is True
            for body, status in (({"topic": "home/kitchen/temperature", "on": True}, 404),
                                 ({"topic": "home/hall/light", "on": "yes"}, 400),
                                 ({"topic": "home/hall/light"}, 400)):
                async with s.post(gw.url + "/api/switch", json=body) as res:
                    assert res.status == status, body
            async with s.post(gw.url + "/api/switch", data=b"not json") as res:
                assert res.status == 400
            # A page on another site cannot make a signed-in browser switch anything.
            async with s.post(gw.url + "/api/switch", json={"topic": "home/hall/light",
                                                            "on": False},
                              headers={"Origin": "http://evil.example"}) as res:
                assert res.status == 403
            assert len(commands) == 1

    run(scenario, tmp_path)


# --- live --------------------------------------------------------------------------------------


def test_live_socket_sends_state_then_changes(tmp_path: Path) -> None:
    async def scenario(tmp: Path) -> None:
        async with running(tmp) as gw, client() as s:
            await login(s, gw.url)
            async with s.ws_connect(gw.url + "/api/live") as ws:
                hello = await ws.receive_json(timeout=TIMEOUT)
                assert hello["type"] == "state"
                assert any(e["topic"] == "home/hall/light" for e in hello["entities"])
                gw.broker.publish("home/kitchen/temperature", "19.5", retain=True)
                event = await next_event(ws)
                assert event["type"] == "entity"
                assert (event["entity"]["topic"], event["entity"]["value"]) == (
                    "home/kitchen/temperature", "19.5")
                assert event["entity"]["updated"] is not None
                # A sensor removed from the gateway config leaves the page.
                gw.broker.publish("homeassistant/sensor/gw/attic_humidity/config", "",
                                  retain=True)
                assert await next_event(ws) == {"type": "remove", "topic": "home/attic/humidity"}

    run(scenario, tmp_path)


def test_live_socket_sends_health_now_and_then(tmp_path: Path) -> None:
    async def scenario(tmp: Path) -> None:
        async with running(tmp, health_interval=0.2) as gw, client() as s:
            await login(s, gw.url)
            async with s.ws_connect(gw.url + "/api/live") as ws:
                assert (await ws.receive_json(timeout=TIMEOUT))["type"] == "state"
                event = await ws.receive_json(timeout=TIMEOUT)
                assert event["type"] == "health"
                assert event["health"]["live_clients"] == 1
                assert event["health"]["machine"]["disk_total"] > 0

    run(scenario, tmp_path)


def test_after_a_restart_retained_values_keep_their_age(tmp_path: Path) -> None:
    async def scenario(tmp: Path) -> None:
        broker = Broker(BrokerConfig(host="127.0.0.1", port=0))
        await broker.start()
        try:
            first = Dashboard(broker, 0, "127.0.0.1", tmp / "data")
            await first.start()
            broker.publish("home/kitchen/temperature", "21.7", retain=True)
            taken = first.catalog.entities["home/kitchen/temperature"].updated
            await first.stop()  # writes the buffered history
            second = Dashboard(broker, 0, "127.0.0.1", tmp / "data")
            await second.start()  # sees the value only as a retained message
            entity = second.catalog.entities["home/kitchen/temperature"]
            assert taken is not None and entity.updated == pytest.approx(taken, abs=0.002)
            await second.stop()
        finally:
            await broker.stop()

    run(scenario, tmp_path)


def test_a_taken_port_fails_start_cleanly(tmp_path: Path) -> None:
    async def scenario(tmp: Path) -> None:
        broker = Broker(BrokerConfig(host="127.0.0.1", port=0))
        await broker.start()
        try:
            with socket.socket() as taken:
                taken.bind(("127.0.0.1", 0))
                taken.listen()
                busy = Dashboard(broker, taken.getsockname()[1], "127.0.0.1", tmp / "data")
                with pytest.raises(OSError):
                    await busy.start()
            # Nothing left behind: the same data directory serves a new dashboard.
            again = Dashboard(broker, 0, "127.0.0.1", tmp / "data")
            await again.start()
            await again.stop()
        finally:
            await broker.stop()

    run(scenario, tmp_path)


# --- ESP8266 nodes and their firmware ------------------------------------------------------

NODE = "attic/attic_node"
NODE_TOPIC = f"home/{NODE}"


def firmware_state(installed: str = "0.3.0", latest: str | None = "0.4.0",
                   in_progress: bool = False, percentage: int | None = None) -> str:
    """The retained state the gateway's update service publishes (docs/contracts.md)."""
    return json.dumps({"installed_version": installed, "latest_version": latest,
                       "title": "Sensor node firmware", "in_progress": in_progress,
                       "update_percentage": percentage})


def announce_node(broker: Broker) -> None:
    """A node as it connects, and the gateway's firmware state for it."""
    broker.publish(f"{NODE_TOPIC}/announce", '{"fw":"0.3.0","tr":"wifi","dht":1}', retain=True)
    broker.publish(f"{NODE_TOPIC}/status", "online", retain=True)
    broker.publish(f"{NODE_TOPIC}/firmware/progress", '{"st":"idle","v":"0.3.0"}', retain=True)
    broker.publish(f"{NODE_TOPIC}/firmware/state", firmware_state(), retain=True)


def test_nodes_show_their_firmware_and_the_button_asks_the_gateway(tmp_path: Path) -> None:
    async def scenario(tmp: Path) -> None:
        async with running(tmp) as gw, client(headers=basic(USER, PASSWORD)) as s:
            announce_node(gw.broker)
            installs: list[Message] = []
            gw.broker.subscribe("home/+/+/firmware/install", installs.append)
            async with s.get(gw.url + "/api/state") as res:
                state = await res.json()
            # home/attic/node1 has a status but never announced itself: not a node to list.
            assert state["nodes"] == [{
                "id": NODE, "room": "attic", "node": "attic_node", "name": "Attic node",
                "online": True, "installed": "0.3.0", "latest": "0.4.0",
                "title": "Sensor node firmware", "update_available": True,
                "in_progress": False, "phase": None, "percentage": None, "error": None,
                "failed_version": None, "can_update": True}]
            # Update traffic is not a value on a room card.
            assert not [e for e in state["entities"] if "/firmware/" in e["topic"]]
            async with s.post(gw.url + "/api/nodes/update", json={"node": NODE}) as res:
                assert res.status == 202
                assert await res.json() == {
                    "install_topic": f"{NODE_TOPIC}/firmware/install", "payload": "install"}
            assert [(m.topic, m.payload, m.retain) for m in installs] == [
                (f"{NODE_TOPIC}/firmware/install", b"install", False)]
            for body, status in (({"node": "attic/node1"}, 404), ({"node": "nowhere"}, 404),
                                 ({"topic": NODE}, 400), ([NODE], 400)):
                async with s.post(gw.url + "/api/nodes/update", json=body) as res:
                    assert res.status == status, body
            async with s.post(gw.url + "/api/nodes/update", json={"node": NODE},
                              headers={"Origin": "http://evil.example"}) as res:
                assert res.status == 403
            assert len(installs) == 1

    run(scenario, tmp_path)


async def next_node(ws: aiohttp.ClientWebSocketResponse) -> dict[str, object]:
    """The next node event's node (or the removal event)."""
    while True:
        event = await next_event(ws)
        if event["type"] == "node":
            return event["node"]  # type: ignore[return-value]
        if event["type"] == "node_remove":
            return event


def test_live_socket_follows_an_update_its_failure_and_forgetting(tmp_path: Path) -> None:
    async def scenario(tmp: Path) -> None:
        async with running(tmp) as gw, client() as s:
            await login(s, gw.url)
            announce_node(gw.broker)
            async with s.ws_connect(gw.url + "/api/live") as ws:
                hello = await ws.receive_json(timeout=TIMEOUT)
                assert [n["id"] for n in hello["nodes"]] == [NODE]
                state = f"{NODE_TOPIC}/firmware/state"
                progress = f"{NODE_TOPIC}/firmware/progress"
                gw.broker.publish(state, firmware_state(in_progress=True), retain=True)
                node = await next_node(ws)
                assert (node["in_progress"], node["percentage"]) == (True, None)
                # The node's own report carries the percentage until the gateway's does.
                gw.broker.publish(progress, '{"st":"download","v":"0.4.0","pct":30}',
                                  retain=True)
                node = await next_node(ws)
                assert (node["phase"], node["percentage"]) == ("download", 30)
                gw.broker.publish(state, firmware_state(in_progress=True, percentage=42),
                                  retain=True)
                assert (await next_node(ws))["percentage"] == 42
                gw.broker.publish(progress, '{"st":"failed","v":"0.4.0","err":"md5 mismatch"}',
                                  retain=True)
                gw.broker.publish(state, firmware_state(), retain=True)
                await next_node(ws)
                node = await next_node(ws)
                assert (node["in_progress"], node["phase"], node["error"],
                        node["failed_version"], node["update_available"]) == (
                    False, "failed", "md5 mismatch", "0.4.0", True)
                # A new attempt hides the old failure.
                gw.broker.publish(state, firmware_state(in_progress=True, percentage=0),
                                  retain=True)
                node = await next_node(ws)
                assert node["error"] is None and node["in_progress"]
                # Done: the node is back with the new version.
                gw.broker.publish(progress, '{"st":"idle","v":"0.4.0"}', retain=True)
                gw.broker.publish(state, firmware_state("0.4.0"), retain=True)
                await next_node(ws)
                node = await next_node(ws)
                assert (node["installed"], node["update_available"], node["in_progress"]) == (
                    "0.4.0", False, False)
                gw.broker.publish(f"{NODE_TOPIC}/status", "offline", retain=True)
                assert (await next_node(ws))["online"] is False
                # `gateway node forget` withdraws the announcement: the node leaves the page.
                gw.broker.publish(f"{NODE_TOPIC}/announce", "", retain=True)
                assert await next_node(ws) == {"type": "node_remove", "id": NODE}
                gw.broker.publish(state, firmware_state(), retain=True)   # a leftover
            async with s.get(gw.url + "/api/state") as res:
                assert (await res.json())["nodes"] == []

    run(scenario, tmp_path)
