"""The dashboard answers as MQTT would: a user sees and switches only what their ACL allows.

Every request comes from the LAN (a network namespace, support.lan), signed in as one of the
rig's users (dashrig.ACL), against a gateway with tcp and ws listeners and the dashboard.
"""

from __future__ import annotations

import asyncio
import json
import time

import paho.mqtt.client as mqtt
from support.lanloop import LanLoop

from .dashrig import (
    TIMEOUT,
    Rig,
    basic,
    get_json,
    password,
    rig_fixture,  # noqa: F401  (the rig fixture)
    session,
    switch,
)
from .harness import Client


def mqtt_client(rig: Rig, user: str) -> Client:
    """A paho client of ``user`` connected from the LAN (MQTT 5: refusals have codes)."""
    client = Client(rig.mqtt_port, host=rig.lan.host_ip, username=user, password=password(user),
                    protocol=mqtt.MQTTv5)
    assert rig.lan.call(client.connect) == 0
    return client


def quiet(rig: Rig, seconds: float = 0.5) -> None:
    """Give a wrongly routed command time to show up in ``rig.commands``."""
    rig.loop.run(asyncio.sleep(seconds))


def topics(state: dict) -> set[str]:
    return {e["topic"] for e in state["entities"]}


def test_discovery_config_cannot_redirect_a_switch(rig: Rig, lan_loop: LanLoop) -> None:
    """The issue's escalation: a user allowed only homeassistant/# publishes a config whose
    command_topic is secret/pwned and asks the dashboard to switch it."""
    ha = mqtt_client(rig, "ha")
    try:
        # Its state topic under homeassistant/: the entity is one ha may read (and see).
        ha.publish("homeassistant/switch/evil/pwn/config", json.dumps({
            "name": "Pwn", "state_topic": "homeassistant/pwn/state",
            "command_topic": "secret/pwned"}), retain=True)
        ha.publish("homeassistant/pwn/state", "OFF", retain=True)
        ha.publish("secret/pwned", "ON")  # over MQTT: refused (0x87), dropped
        # A config that makes phone's "Kitchen lamp" open the garage door: phone may write
        # home/garage/door/set, but not because of what ha wrote.
        ha.publish("homeassistant/switch/evil/lamp/config", json.dumps({
            "name": "Kitchen lamp", "state_topic": "home/kitchen/lamp",
            "command_topic": "home/garage/door/set"}), retain=True)
    finally:
        ha.close()
    rig.publish("home/kitchen/lamp", "OFF", retain=True)

    async def attack() -> dict:
        status, state = await get_json(f"{rig.url}/api/state", basic("ha"))
        assert status == 200
        pwn = next(e for e in state["entities"] if e["topic"] == "homeassistant/pwn/state")
        assert not pwn["switchable"]
        assert await switch(rig.url, basic("ha"), "homeassistant/pwn/state") == 404
        status, state = await get_json(f"{rig.url}/api/state", basic("phone"))
        lamp = next(e for e in state["entities"] if e["topic"] == "home/kitchen/lamp")
        assert not lamp["switchable"]
        assert await switch(rig.url, basic("phone"), "home/kitchen/lamp") == 404
        # The gateway's own switch still works for phone: the refusals above are not blanket.
        assert await switch(rig.url, basic("phone"), "home/hall/light") == 202
        return state

    lan_loop.run(attack())
    deadline = time.monotonic() + TIMEOUT
    while ("home/hall/light/set", b"ON") not in rig.commands and time.monotonic() < deadline:
        quiet(rig, 0.05)
    assert rig.commands == [("home/hall/light/set", b"ON")]
    quiet(rig)
    assert rig.sent("secret/") == [] and rig.sent("home/garage/") == []


def test_read_only_user_cannot_switch(rig: Rig, lan_loop: LanLoop) -> None:
    reader = mqtt_client(rig, "reader")
    try:
        reader.publish("home/hall/light/set", "ON")  # MQTT: dropped, reader may not write
    finally:
        reader.close()

    async def attack() -> None:
        status, state = await get_json(f"{rig.url}/api/state", basic("reader"))
        light = next(e for e in state["entities"] if e["topic"] == "home/hall/light")
        assert status == 200 and not light["switchable"]
        assert await switch(rig.url, basic("reader"), "home/hall/light") == 403
        # Nor by a login cookie instead of basic auth.
        async with session() as s:
            async with s.post(f"{rig.url}/login", data={
                    "username": "reader", "password": password("reader")},
                    allow_redirects=False) as res:
                assert res.status == 302 and res.headers["Location"] == "/"
            async with s.post(f"{rig.url}/api/switch",
                              json={"topic": "home/hall/light", "on": True}) as res:
                assert res.status == 403

    lan_loop.run(attack())
    quiet(rig)
    assert rig.commands == []


def test_state_and_history_show_only_what_the_user_may_read(rig: Rig,
                                                           lan_loop: LanLoop) -> None:
    async def look() -> None:
        status, phone = await get_json(f"{rig.url}/api/state", basic("phone"))
        assert status == 200
        assert "home/kitchen/temperature" in topics(phone)
        assert "home/door/code" not in topics(phone)  # topic deny home/door/code
        assert "1234" not in json.dumps(phone)
        status, stranger = await get_json(f"{rig.url}/api/state", basic("stranger"))
        assert status == 200 and stranger["entities"] == []  # no read right on home/#
        assert stranger["health"]["nodes"] == []
        assert set(stranger["health"]["broker"].values()) == {None}  # no $SYS either
        for user, topic in (("phone", "home/door/code"), ("stranger", "home/kitchen/temperature")):
            status, _ = await get_json(f"{rig.url}/api/history?topic={topic}", basic(user))
            assert status == 404, (user, topic)
        status, _ = await get_json(f"{rig.url}/api/history?topic=home/kitchen/temperature",
                                   basic("phone"))
        assert status == 200

    lan_loop.run(look())


def test_live_socket_sends_only_what_the_user_may_read(rig: Rig, lan_loop: LanLoop) -> None:
    async def watch() -> list[dict]:
        events = []
        async with session() as s, s.ws_connect(f"{rig.url}/api/live", headers=basic("phone")) as ws:
            hello = await ws.receive_json(timeout=TIMEOUT)
            assert hello["type"] == "state" and "home/door/code" not in topics(hello)
            while True:
                event = await ws.receive_json(timeout=TIMEOUT)
                events.append(event)
                if event.get("entity", {}).get("topic") == "home/kitchen/temperature":
                    return events

    # The watcher runs on the stranger's loop while the gateway publishes on its own.
    future = asyncio.run_coroutine_threadsafe(watch(), lan_loop.loop)
    deadline = time.monotonic() + TIMEOUT
    while not len(rig.dashboard.live) and time.monotonic() < deadline:
        quiet(rig, 0.05)
    rig.publish("home/door/code", "9999")  # first: were it sent, it would arrive first
    rig.publish("home/kitchen/temperature", "22.0")
    events = future.result(TIMEOUT * 2)
    sent = [e["entity"]["topic"] for e in events if e["type"] == "entity"]
    assert sent == ["home/kitchen/temperature"]
    assert "9999" not in json.dumps(events)


def test_metrics_only_for_users_who_may_read_sys(rig: Rig, lan_loop: LanLoop) -> None:
    """/metrics carries the broker's $SYS figures (clients, traffic, sensors' names): the same
    answer as MQTT, whose $SYS/# only prometheus may read here."""
    async def scrape() -> None:
        for user in ("phone", "stranger", "ha"):
            status, _ = await get_json(f"{rig.url}/metrics", basic(user))
            assert status == 403, user
        async with session() as s, s.get(f"{rig.url}/metrics", headers=basic("prometheus")) as res:
            assert res.status == 200
            assert "broker_clients_connected" in await res.text()

    lan_loop.run(scrape())


def test_only_a_user_who_may_write_the_install_topic_updates_a_node(
        rig: Rig, lan_loop: LanLoop) -> None:
    """The update button publishes ``install`` as the signed-in user: reader (read home/#)
    sees the node and its firmware but gets no button and a 403, as MQTT would refuse its
    PUBLISH; phone (write home/+/+/firmware/install) may ask."""
    node = "home/attic/attic_node"
    rig.publish(f"{node}/announce", '{"fw":"0.3.0","tr":"wifi"}', retain=True)
    rig.publish(f"{node}/firmware/state", json.dumps({
        "installed_version": "0.3.0", "latest_version": "0.4.0", "in_progress": False}),
        retain=True)
    installs: list[tuple[str, bytes]] = []
    rig.loop.call(rig.broker.subscribe, "home/+/+/firmware/install",
                  lambda msg: installs.append((msg.topic, msg.payload)))
    reader = mqtt_client(rig, "reader")
    try:
        reader.publish(f"{node}/firmware/install", "install")  # MQTT: dropped
    finally:
        reader.close()

    async def nodes(user: str) -> list[dict]:
        status, state = await get_json(f"{rig.url}/api/state", basic(user))
        assert status == 200
        return state["nodes"]

    async def update(user: str) -> int:
        async with session() as s, s.post(f"{rig.url}/api/nodes/update", headers=basic(user),
                                          json={"node": "attic/attic_node"}) as res:
            return res.status

    async def attack() -> None:
        [shown] = await nodes("reader")
        assert (shown["installed"], shown["latest"], shown["can_update"]) == (
            "0.3.0", "0.4.0", False)
        assert await update("reader") == 403
        # Who may not read the node learns nothing of it, not even that it exists.
        assert await nodes("stranger") == []
        assert await update("stranger") == 404
        [shown] = await nodes("phone")
        assert shown["can_update"]
        assert await update("phone") == 202

    lan_loop.run(attack())
    deadline = time.monotonic() + TIMEOUT
    while not installs and time.monotonic() < deadline:
        quiet(rig, 0.05)
    quiet(rig)
    assert installs == [(f"{node}/firmware/install", b"install")]
