"""The emulated node (real sketch, real PubSubClient) announces itself; `gateway run` makes
it a Home Assistant device, the dashboard shows and switches its outputs, and only
`gateway node forget` removes it."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import pytest
from emunode import (
    RELAY_PIN,
    GatewayProcess,
    NodeConfig,
    build_node,
    gateway_command,
    wait_for,
    wifi_rig,
)

ANNOUNCE = "home/kitchen/kitchen_node/announce"
STATUS = "home/kitchen/kitchen_node/status"
RELAY_CONFIG = "homeassistant/switch/kitchen_node/relay/config"
NODE_CONFIGS = {
    "homeassistant/switch/kitchen_node/relay/config",
    "homeassistant/light/kitchen_node/lamp/config",
    "homeassistant/binary_sensor/kitchen_node/door/config",
    "homeassistant/binary_sensor/kitchen_node/button/config",
    "homeassistant/sensor/kitchen_node/temperature/config",
    "homeassistant/sensor/kitchen_node/humidity/config",
    "homeassistant/update/kitchen_node/firmware-update/config",
}


@pytest.fixture(scope="module")
def wifi_node() -> Path:
    return build_node(NodeConfig())


def dashboard(gateway: GatewayProcess, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{gateway.dashboard_port}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def node_cli(gateway: GatewayProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [gateway_command(), "node", *args, "--broker", f"mqtt://127.0.0.1:{gateway.port}"],
        capture_output=True, text=True, timeout=120)


def test_node_becomes_a_device_is_switched_from_the_dashboard_and_forgotten_on_request(
        wifi_node: Path, tmp_path: Path) -> None:
    with wifi_rig(wifi_node, tmp_path, dashboard=True, filters=("home/#", "homeassistant/#")
                  ) as (gateway, watch, node):
        node.start()
        wait_for(lambda: NODE_CONFIGS <= {t for t, p, _ in watch.messages if p},
                 what="the node's discovery configs")
        announcement = watch.last(ANNOUNCE)
        assert announcement is not None
        # PubSubClient's buffer is 512 bytes for topic, payload and header: far from it.
        assert len(ANNOUNCE) + len(announcement) + 5 < 200, announcement
        relay = json.loads(watch.last(RELAY_CONFIG))
        assert relay["command_topic"] == "home/kitchen/relay/set"
        assert relay["device"]["via_device"] == "test_pi"
        assert relay["device"]["suggested_area"] == "Kitchen"
        assert relay["device"]["sw_version"] == "0.4.0"

        # The dashboard lists the node's relay as a switch in the kitchen and switches it.
        def relay_entry() -> dict | None:
            for entry in dashboard(gateway, "/api/state")["entities"]:
                if entry["topic"] == "home/kitchen/relay":
                    return entry
            return None
        wait_for(lambda: (relay_entry() or {}).get("on") is False, what="relay on the page")
        entry = relay_entry()
        assert entry["switchable"] and entry["room_title"] == "Kitchen"
        assert entry["name"] == "Relay"
        topics = {e["topic"] for e in dashboard(gateway, "/api/state")["entities"]}
        assert ANNOUNCE not in topics          # the node's self-description is not a value
        dashboard(gateway, "/api/switch", {"topic": "home/kitchen/relay", "on": True})
        wait_for(lambda: node.level(RELAY_PIN) == 0, what="relay pin switched on (active low)")
        wait_for(lambda: (relay_entry() or {}).get("on") is True, what="confirmed on the page")

        listed = node_cli(gateway, "list")
        assert listed.returncode == 0, listed.stderr
        assert "kitchen_node  room=kitchen  firmware=0.4.0  via=wifi" in listed.stdout

        # Offline is not gone: the device stays in Home Assistant.
        node.kill()
        wait_for(watch.shows(STATUS, b"offline"), what="the will")
        assert all(watch.last(t) for t in NODE_CONFIGS)

        forgot = node_cli(gateway, "forget", "kitchen_node")
        assert forgot.returncode == 0, forgot.stderr
        wait_for(lambda: all(watch.last(t) == b"" for t in NODE_CONFIGS),
                 what="the node's configs removed")
        wait_for(lambda: watch.last(STATUS) == b"" and watch.last("home/kitchen/relay") == b"",
                 what="the node's retained values removed")
        # ...and the dashboard shows none of the node's values any more.
        wait_for(lambda: not {e["topic"] for e in dashboard(gateway, "/api/state")["entities"]}
                 & {"home/kitchen/relay", "home/kitchen/door", "home/kitchen/temperature"},
                 what="the node gone from the dashboard")
        again = node_cli(gateway, "forget", "kitchen_node")
        assert again.returncode != 0 and "no node 'kitchen_node'" in again.stderr
