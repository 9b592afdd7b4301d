"""What the dashboard makes of broker messages: discovery configs (both spellings),
availability, node status, values without discovery, names without the room."""

from __future__ import annotations

import json

from gateway.dashboard.catalog import Catalog
from gateway.dashboard.ha_configs import parse_discovery_config
from gateway.dashboard.health import BrokerHealth


def feed(catalog: Catalog, topic: str, payload: object, retained: bool = True) -> list[str]:
    data = payload if isinstance(payload, bytes) else (
        json.dumps(payload) if isinstance(payload, dict) else str(payload)).encode()
    return catalog.handle(topic, data, retained)


def test_abbreviated_config_with_base_topic() -> None:
    config = parse_discovery_config("homeassistant/switch/node/pump/config", json.dumps({
        "~": "home/garden/pump", "name": "Garden pump", "stat_t": "~", "cmd_t": "~/set",
        "avty": [{"t": "home/garden/node/status"}], "pl_on": "1", "pl_off": "0",
        "dev": {"name": "Garden node", "sa": "Garden"}}).encode())
    assert config is not None
    assert (config.state_topic, config.command_topic) == ("home/garden/pump",
                                                          "home/garden/pump/set")
    assert config.availability == (("home/garden/node/status", "online", "offline"),)
    assert (config.payload_on, config.payload_off, config.area) == ("1", "0", "Garden")


def test_unusable_configs_are_ignored() -> None:
    for topic, payload in (
        ("homeassistant/sensor/x/y/config", b"{not json"),
        ("homeassistant/sensor/x/y/config", b"[1, 2]"),
        ("homeassistant/sensor/x/y/config", json.dumps({"name": "no state topic"}).encode()),
        ("homeassistant/camera/x/y/config", json.dumps({"state_topic": "a/b"}).encode()),
        ("homeassistant/sensor/x/y/other", json.dumps({"state_topic": "a/b"}).encode()),
        ("homeassistant/sensor/x/y/config", b"\xff\xfe"),
    ):
        assert parse_discovery_config(topic, payload) is None, payload


def test_discovery_availability_all_and_removal() -> None:
    catalog = Catalog(clock=lambda: 100.0)
    feed(catalog, "home/living_room/temperature", "21.4")
    feed(catalog, "homeassistant/sensor/gw/living_room_temperature/config", {
        "name": "Living room temperature", "state_topic": "home/living_room/temperature",
        "unit_of_measurement": "°C", "suggested_area": "Living room",
        "availability": [{"topic": "home/gw/status"},
                         {"topic": "home/living_room/temperature/availability"}],
        "availability_mode": "all"})
    entity = catalog.entities["home/living_room/temperature"]
    view = catalog.entity_json(entity)
    assert (view["name"], view["room_title"], view["unit"]) == ("Temperature", "Living room",
                                                                "°C")
    assert view["online"] is None and view["updated"] is None  # nothing said, retained
    feed(catalog, "home/gw/status", "online")
    feed(catalog, "home/living_room/temperature/availability", "online")
    assert catalog.online(entity) is True
    changed = feed(catalog, "home/living_room/temperature/availability", "offline")
    assert changed == ["home/living_room/temperature"] and catalog.online(entity) is False
    assert feed(catalog, "home/living_room/temperature", "21.6", retained=False)
    assert entity.updated == 100.0 and entity.number() == 21.6
    # The availability topic is no value of its own, and commands are not states.
    feed(catalog, "home/hall/light/set", "ON", retained=False)
    assert set(catalog.entities) == {"home/living_room/temperature"}
    assert feed(catalog, "homeassistant/sensor/gw/living_room_temperature/config", b"") == [
        "home/living_room/temperature"]
    assert catalog.entities == {}


def test_values_without_discovery_and_node_status() -> None:
    catalog = Catalog()
    feed(catalog, "home/attic/temperature", "17.2")
    feed(catalog, "home/attic/window", "ON")
    feed(catalog, "home/attic/espnode/status", "online")
    feed(catalog, "home/gw/status", "offline")
    feed(catalog, "home/attic/temperature/availability", "offline")
    kinds = {t: e.kind for t, e in catalog.entities.items()}
    assert kinds == {"home/attic/temperature": "sensor", "home/attic/window": "binary_sensor"}
    assert catalog.entities["home/attic/window"].number() == 1.0
    assert catalog.online(catalog.entities["home/attic/temperature"]) is False
    assert catalog.nodes() == {"home/attic/espnode/status": True, "home/gw/status": False}
    assert catalog.command_topic("home/attic/window") is None  # not a switch


def test_sorted_by_room_then_kind_then_name() -> None:
    catalog = Catalog()
    for topic, value in (("home/hall/light", "OFF"), ("home/hall/door", "OFF"),
                         ("home/hall/temperature", "20"), ("home/attic/humidity", "50")):
        feed(catalog, topic, value)
    feed(catalog, "homeassistant/switch/gw/hall_light/config", {
        "name": "Hall light", "state_topic": "home/hall/light",
        "command_topic": "home/hall/light/set"})
    order = [e["topic"] for e in catalog.snapshot()]
    assert order == ["home/attic/humidity", "home/hall/temperature", "home/hall/door",
                     "home/hall/light"]
    assert catalog.command_topic("home/hall/light") == "home/hall/light/set"
    assert catalog.payload_for("home/hall/light", True) == "ON"


def test_message_rates_from_sys_counters() -> None:
    now = [0.0]
    health = BrokerHealth(clock=lambda: now[0])
    health.handle("$SYS/broker/messages/received", b"100")
    health.handle("$SYS/broker/uptime", b"42 seconds")
    assert health.as_json()["received_per_s"] is None  # one sample is no rate
    now[0] = 10.0
    health.handle("$SYS/broker/messages/received", b"350")
    view = health.as_json()
    assert view["received_per_s"] == 25.0 and view["broker_uptime"] == 42.0
    now[0] = 20.0
    health.handle("$SYS/broker/messages/received", b"5")  # broker restarted: no negative
    assert health.as_json()["received_per_s"] is None
    assert health.as_json()["serial_clients"] is None  # until the broker publishes it
    assert health.handle("$SYS/broker/listeners/serial/clients/connected", b"2")
    assert health.as_json()["serial_clients"] == 2.0


def test_a_flood_of_new_topics_is_capped() -> None:
    catalog = Catalog(max_entities=50)
    for i in range(500):
        feed(catalog, f"home/spam/topic{i}", "1")
    assert len(catalog.entities) == 50
    for i in range(500):
        feed(catalog, f"home/spam/topic{i}/availability", "online")
    assert len(catalog.availability) == 50
    feed(catalog, "home/spam/topic3", "2")  # known ones still update
    assert catalog.entities["home/spam/topic3"].value == "2"


def test_other_prefixes() -> None:
    catalog = Catalog(prefix="house", discovery_prefix="ha")
    feed(catalog, "home/attic/temperature", "17.2")  # not ours
    feed(catalog, "house/attic/temperature", "17.4")
    feed(catalog, "ha/sensor/gw/attic_temperature/config", {
        "name": "Attic temperature", "state_topic": "house/attic/temperature",
        "unit_of_measurement": "°C"})
    assert list(catalog.entities) == ["house/attic/temperature"]
    assert catalog.entities["house/attic/temperature"].config.unit == "°C"


def test_only_the_gateway_layout_command_topic_is_switchable() -> None:
    """A discovery config names its command topic in free text; the dashboard only ever
    commands <state topic>/set under the prefix, where the gateway's outputs listen."""
    catalog = Catalog()
    for state, command in (("home/hall/light", "home/hall/light/set"),
                           ("home/kitchen/lamp", "home/garage/door/set"),
                           ("homeassistant/pwn/state", "secret/pwned"),
                           ("other/pump", "other/pump/set")):
        feed(catalog, f"homeassistant/switch/x/{state.replace('/', '_')}/config",
             {"state_topic": state, "command_topic": command})
    assert catalog.command_topic("home/hall/light") == "home/hall/light/set"
    for state in ("home/kitchen/lamp", "homeassistant/pwn/state", "other/pump"):
        assert catalog.command_topic(state) is None, state
    view = {e["topic"]: e for e in catalog.snapshot()}
    assert [t for t, e in view.items() if e["switchable"]] == ["home/hall/light"]


def test_rights_filter_entities_availability_and_nodes() -> None:
    catalog = Catalog()
    feed(catalog, "homeassistant/switch/gw/hall_light/config", {
        "state_topic": "home/hall/light", "command_topic": "home/hall/light/set",
        "availability_topic": "home/gw/status"})
    for topic, value in (("home/hall/light", "ON"), ("home/door/code", "1234"),
                         ("home/gw/status", "online")):
        feed(catalog, topic, value)

    def may_read(topic: str) -> bool:
        return topic not in ("home/door/code", "home/gw/status")

    seen = catalog.snapshot(may_read, lambda topic: False)
    assert [e["topic"] for e in seen] == ["home/hall/light"]
    assert seen[0]["online"] is None and not seen[0]["switchable"]  # status unreadable
    assert catalog.nodes(may_read) == {} and catalog.nodes() == {"home/gw/status": True}


# --- ESP8266 nodes (gateway/dashboard/nodes.py) -------------------------------------------

NODE = "home/attic/attic_node"


def test_node_list_takes_any_junk_from_the_network_and_stays_bounded() -> None:
    from gateway.dashboard.nodes import NodeList

    nodes = NodeList(max_nodes=4)
    assert nodes.handle(f"{NODE}/firmware/state", b"{not json") is None   # not listed yet
    assert nodes.handle(f"{NODE}/announce", b'{"fw":"0.3.0","tr":"wifi"}') == "attic/attic_node"
    for payload in (b"{not json", b"[1]", b"\xff\xfe", b'{"installed_version": 3, '
                    b'"latest_version": ["x"], "in_progress": "yes", "update_percentage": 1e9}'):
        assert nodes.handle(f"{NODE}/firmware/state", payload) == "attic/attic_node"
        assert nodes.handle(f"{NODE}/firmware/progress", payload) == "attic/attic_node"
        shown = nodes.node_json("attic/attic_node", lambda t: True, lambda t: True)
        assert shown is not None and shown["installed"] == "0.3.0"
        assert shown["latest"] is None and not shown["update_available"]
    assert nodes.node_json("attic/attic_node", lambda t: True, lambda t: True)[
        "percentage"] is None
    nodes.handle(f"{NODE}/announce", b"not an announcement")      # the last good one stays
    assert [n["installed"] for n in nodes.snapshot(lambda t: True, lambda t: True)] == ["0.3.0"]
    for i in range(10):   # made-up nodes' status topics: a bounded record
        nodes.handle(f"home/r{i}/n{i}/status", b"online")
    assert len(nodes._nodes) == 4
    assert nodes.handle("home/attic/attic_node/firmware/offer", b"{}") is None
    assert nodes.handle("other/attic/attic_node/announce", b"{}") is None


def test_node_list_shows_each_part_only_to_who_may_read_its_topic() -> None:
    from gateway.dashboard.nodes import NodeList

    nodes = NodeList()
    nodes.handle(f"{NODE}/announce", b'{"fw":"0.3.0","tr":"wifi"}')
    nodes.handle(f"{NODE}/status", b"online")
    nodes.handle(f"{NODE}/firmware/state", json.dumps({
        "installed_version": "0.3.0", "latest_version": "0.4.0"}).encode())
    nodes.handle(f"{NODE}/firmware/progress", json.dumps({
        "st": "failed", "v": "0.4.0", "err": "md5 mismatch"}).encode())
    everything = nodes.node_json("attic/attic_node", lambda t: True, lambda t: False)
    assert everything is not None
    assert (everything["latest"], everything["error"], everything["online"],
            everything["can_update"]) == ("0.4.0", "md5 mismatch", True, False)
    only_announce = nodes.node_json("attic/attic_node", lambda t: t.endswith("/announce"),
                                    lambda t: True)
    assert only_announce is not None
    assert (only_announce["installed"], only_announce["latest"], only_announce["error"],
            only_announce["online"]) == ("0.3.0", None, None, None)
    assert nodes.node_json("attic/attic_node", lambda t: t.endswith("/status"),
                           lambda t: True) is None
    # Forgotten: gone, and a leftover retained state does not bring it back.
    assert nodes.handle(f"{NODE}/announce", b"") == "attic/attic_node"
    assert nodes.handle(f"{NODE}/firmware/state", b'{"latest_version":"0.4.0"}') is None
    assert nodes.snapshot(lambda t: True, lambda t: True) == []


def test_firmware_topics_are_not_values() -> None:
    catalog = Catalog()
    for leaf in ("state", "progress", "offer", "install"):
        assert feed(catalog, f"{NODE}/firmware/{leaf}", {"v": "0.4.0"}) == []
    assert catalog.entities == {}


def test_an_update_the_gateway_gave_up_on_shows_as_failed() -> None:
    """A node that lost power mid-download says nothing more; the gateway's state stops
    being in progress, and the page says why there is no progress any more."""
    from gateway.dashboard.nodes import STALLED, NodeList

    nodes = NodeList()
    nodes.handle(f"{NODE}/announce", b'{"fw":"0.3.0","tr":"wifi"}')
    nodes.handle(f"{NODE}/firmware/progress", b'{"st":"download","v":"0.4.0","pct":30}')
    state = {"installed_version": "0.3.0", "latest_version": "0.4.0", "in_progress": True,
             "update_percentage": 30}
    nodes.handle(f"{NODE}/firmware/state", json.dumps(state).encode())
    shown = nodes.node_json("attic/attic_node", lambda t: True, lambda t: True)
    assert shown is not None and (shown["in_progress"], shown["error"]) == (True, None)
    state.update(in_progress=False, update_percentage=None)
    nodes.handle(f"{NODE}/firmware/state", json.dumps(state).encode())
    shown = nodes.node_json("attic/attic_node", lambda t: True, lambda t: True)
    assert shown is not None
    assert (shown["phase"], shown["error"], shown["failed_version"]) == (
        "failed", STALLED, "0.4.0")
