"""Home Assistant discovery: payloads field by field, removal of entities that left the
config, and re-announcing when Home Assistant comes online."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory
from gw_helpers import EngineBus, ScriptedDht
from support.wait import until

from gateway import __version__
from gateway.config import parse_config
from gateway.hardware import Hardware
from gateway.runtime.app import Gateway

CONFIG = '''
[gateway]
name = "Attic Pi"

[[room."Living Room"]]
driver = "dht22"
pin = 4

[[room.hall]]
driver = "motion"
pin = 27

[[room.hall]]
driver = "relay"
name = "Light"
pin = 23

[[room.hall]]
driver = "led"
pin = 24
'''

GATEWAY_DEVICE = {
    "identifiers": ["attic_pi"],
    "name": "Attic Pi",
    "manufacturer": "sensor-gateway",
    "model": "Raspberry Pi sensor gateway",
    "sw_version": __version__,
}
LIVING_ROOM = {
    "identifiers": ["attic_pi_room_living_room"],
    "name": "Living Room",
    "manufacturer": "sensor-gateway",
    "model": "Sensors wired to the gateway",
    "suggested_area": "Living Room",
    "via_device": "attic_pi",
}
ORIGIN = {"name": "sensor-gateway", "sw_version": __version__}


async def started(text: str, tmp_path: Path, factory: MockFactory,
                  bus: EngineBus | None = None) -> tuple[Gateway, EngineBus]:
    config = parse_config(text)
    bus = bus or EngineBus(config.gateway.status_topic)
    hardware = Hardware(simulated=True, pin_factory=factory,
                        dht_factory=lambda kind, pin: ScriptedDht([(21.0, 40.0)]))
    gateway = Gateway(config, bus, hardware, tmp_path)
    await bus.start()
    await gateway.start()
    return gateway, bus


def config_of(bus: EngineBus, topic: str) -> dict:
    return json.loads(bus.retained[topic])


def test_payloads_field_by_field(tmp_path: Path, pin_factory: MockFactory) -> None:
    async def scenario() -> None:
        gateway, bus = await started(CONFIG, tmp_path, pin_factory)
        temperature = config_of(bus, "homeassistant/sensor/attic_pi/living_room_temperature/"
                                     "config")
        assert temperature == {
            "name": "Temperature",
            "unique_id": "attic_pi_living_room_temperature",
            "default_entity_id": "sensor.living_room_temperature",
            "state_topic": "home/living_room/temperature",
            "availability": [{"topic": "home/attic_pi/status"},
                             {"topic": "home/living_room/temperature/availability"}],
            "availability_mode": "all",
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": LIVING_ROOM,
            "origin": ORIGIN,
            "device_class": "temperature",
            "unit_of_measurement": "°C",
            "state_class": "measurement",
            "suggested_display_precision": 1,
        }
        humidity = config_of(bus, "homeassistant/sensor/attic_pi/living_room_humidity/config")
        assert (humidity["device_class"], humidity["unit_of_measurement"]) == ("humidity", "%")

        motion = config_of(bus, "homeassistant/binary_sensor/attic_pi/hall_motion/config")
        assert motion["device_class"] == "motion"
        assert motion["state_topic"] == "home/hall/motion"
        assert (motion["payload_on"], motion["payload_off"]) == ("ON", "OFF")
        assert motion["availability"] == [{"topic": "home/attic_pi/status"}]
        assert "unit_of_measurement" not in motion and "command_topic" not in motion

        relay = config_of(bus, "homeassistant/switch/attic_pi/hall_light/config")
        assert relay["name"] == "Light"
        assert relay["device"]["name"] == relay["device"]["suggested_area"] == "Hall"
        assert relay["device"]["via_device"] == "attic_pi"
        assert relay["command_topic"] == "home/hall/light/set"
        assert relay["state_topic"] == "home/hall/light"
        assert (relay["payload_on"], relay["payload_off"], relay["state_on"],
                relay["state_off"]) == ("ON", "OFF", "ON", "OFF")
        assert relay["unique_id"] == "attic_pi_hall_light"
        assert relay["default_entity_id"] == "switch.hall_light"

        led = config_of(bus, "homeassistant/light/attic_pi/hall_led/config")
        assert led["command_topic"] == "home/hall/led/set"
        # every discovery message is retained
        assert all(retain for topic, _, retain in bus.published
                   if topic.startswith("homeassistant/"))
        await gateway.stop()

    asyncio.run(scenario())


def test_removed_sensor_gets_an_empty_retained_config(
        tmp_path: Path, pin_factory: MockFactory) -> None:
    async def scenario() -> None:
        gateway, bus = await started(CONFIG, tmp_path, pin_factory)
        await gateway.stop()
        pin_factory.reset()
        without_led = CONFIG.split('[[room.hall]]\ndriver = "led"')[0]
        gateway, bus = await started(without_led, tmp_path, pin_factory)
        removed = "homeassistant/light/attic_pi/hall_led/config"
        assert (removed, b"", True) in bus.published
        kept = "homeassistant/switch/attic_pi/hall_light/config"
        assert (kept, b"", True) not in bus.published and kept in bus.retained
        await gateway.stop()
        # the record now holds what is announced, so a third start removes nothing
        pin_factory.reset()
        gateway, bus = await started(without_led, tmp_path, pin_factory)
        assert not [p for t, p, _ in bus.published if t.startswith("homeassistant/") and not p]
        await gateway.stop()

    asyncio.run(scenario())


def test_discovery_off_removes_everything_announced(
        tmp_path: Path, pin_factory: MockFactory) -> None:
    async def scenario() -> None:
        gateway, bus = await started(CONFIG, tmp_path, pin_factory)
        announced = {t for t in bus.retained if t.startswith("homeassistant/")}
        await gateway.stop()
        pin_factory.reset()
        off = CONFIG.replace('name = "Attic Pi"', 'name = "Attic Pi"\ndiscovery = false')
        gateway, bus = await started(off, tmp_path, pin_factory)
        cleared = {t for t, p, _ in bus.published if t.startswith("homeassistant/") and not p}
        assert cleared == announced and len(announced) == 5
        await gateway.stop()

    asyncio.run(scenario())


def test_home_assistant_online_triggers_a_new_announcement(
        tmp_path: Path, pin_factory: MockFactory) -> None:
    async def scenario() -> None:
        # Home Assistant's retained status, there before the gateway subscribes, is old
        # news: the startup announcement is the only one.
        bus = EngineBus(parse_config(CONFIG).gateway.status_topic)
        bus.inject("homeassistant/status", b"online", retain=True)
        gateway, bus = await started(CONFIG, tmp_path, pin_factory, bus)
        topic = "homeassistant/switch/attic_pi/hall_light/config"
        assert len(bus.values(topic)) == 1
        # So it is when the subscription is made again on a restarted broker: one new
        # announcement, for the reconnection.
        bus.reconnect(retained={"homeassistant/status": b"online"})
        before = len(bus.values(topic))
        assert before == 2
        bus.inject("homeassistant/status", b"offline")
        assert len(bus.values(topic)) == before
        bus.inject("homeassistant/status", b"online")
        assert len(bus.values(topic)) == before + 1
        assert bus.values("home/hall/light")[-1] == "OFF"           # states follow
        await gateway.stop()

    asyncio.run(scenario())


def test_heartbeat_republishes_an_unchanged_input(tmp_path: Path, pin_factory: MockFactory) -> None:
    text = '[[room.hall]]\ndriver = "button"\npin = 17\nfilters = { heartbeat = 1 }\n'

    async def scenario() -> None:
        gateway, bus = await started(text, tmp_path, pin_factory)
        await until(lambda: len(bus.values("home/hall/button")) >= 3, what="3 heartbeats")
        assert bus.values("home/hall/button")[:3] == ["OFF", "OFF", "OFF"]
        await gateway.stop()

    asyncio.run(scenario())


def test_reconnect_republishes_every_state(tmp_path: Path, pin_factory: MockFactory) -> None:
    async def scenario() -> None:
        gateway, bus = await started(CONFIG, tmp_path, pin_factory)
        # The first DHT read runs in a thread.
        await until(lambda: "home/living_room/temperature" in bus.retained, what="a reading")
        before = dict(bus.retained)
        bus.reconnect()                         # the broker lost everything
        assert bus.retained == before
        await gateway.stop()

    asyncio.run(scenario())


def test_single_channel_overrides_reach_discovery(tmp_path: Path,
                                                  pin_factory: MockFactory) -> None:
    text = ('[[room.bedroom]]\ndriver = "contact"\nname = "Window"\npin = 5\n'
            'device_class = "window"\n'
            '[[room.bedroom]]\ndriver = "binary"\nname = "leak"\npin = 6\n'
            'device_class = "moisture"\n')

    async def scenario() -> None:
        gateway, bus = await started(text, tmp_path, pin_factory)
        window = config_of(bus, "homeassistant/binary_sensor/gateway/bedroom_window/config")
        assert (window["device_class"], window["name"]) == ("window", "Window")
        leak = config_of(bus, "homeassistant/binary_sensor/gateway/bedroom_leak/config")
        assert leak["device_class"] == "moisture"
        await gateway.stop()

    asyncio.run(scenario())


# --- one device per room and per node, checked against Home Assistant's own schema --------

NODE_TOPIC = "home/kitchen/kitchen_node/announce"
NODE = (b'{"fw":"0.2.0","tr":"wifi","dht":1,"in":{"door":"c","button":"b","pir":"m"},'
        b'"out":{"relay":"r","lamp":"l"}}')
WITH_PI = CONFIG + '\n[[room.gateway]]\ndriver = "pi"\nname = "pi"\n'


def discovery_configs(bus: EngineBus) -> dict[str, dict]:
    return {t: json.loads(p) for t, p in bus.retained.items() if t.startswith("homeassistant/")}


def test_pi_health_belongs_to_the_gateway_device_with_short_names(
        tmp_path: Path, pin_factory: MockFactory) -> None:
    async def scenario() -> None:
        gateway, bus = await started(WITH_PI, tmp_path, pin_factory)
        uptime = config_of(bus, "homeassistant/sensor/attic_pi/gateway_pi_uptime/config")
        # Home Assistant shows device name + entity name: "Attic Pi Uptime".
        assert uptime["name"] == "Uptime"
        assert uptime["device"] == GATEWAY_DEVICE
        for config in discovery_configs(bus).values():
            assert "suggested_area" not in config           # ignored there by Home Assistant
            assert not config["name"].lower().startswith(config["device"]["name"].lower())
        await gateway.stop()

    asyncio.run(scenario())


def test_a_node_announcement_becomes_one_device_in_its_room(
        tmp_path: Path, pin_factory: MockFactory) -> None:
    async def scenario() -> None:
        gateway, bus = await started(CONFIG, tmp_path, pin_factory)
        bus.inject(NODE_TOPIC, NODE, retain=True)
        configs = {t: c for t, c in discovery_configs(bus).items() if "/kitchen_node/" in t}
        assert sorted(configs) == [
            "homeassistant/binary_sensor/kitchen_node/button/config",
            "homeassistant/binary_sensor/kitchen_node/door/config",
            "homeassistant/binary_sensor/kitchen_node/pir/config",
            "homeassistant/light/kitchen_node/lamp/config",
            "homeassistant/sensor/kitchen_node/humidity/config",
            "homeassistant/sensor/kitchen_node/temperature/config",
            "homeassistant/switch/kitchen_node/relay/config",
            "homeassistant/update/kitchen_node/firmware-update/config",
        ]
        device = {
            "identifiers": ["attic_pi_node_kitchen_node"],
            "name": "Kitchen node",
            "manufacturer": "sensor-gateway",
            "model": "ESP8266 node (WiFi)",
            "sw_version": "0.2.0",
            "suggested_area": "Kitchen",
            "via_device": "attic_pi",
        }
        assert all(c["device"] == device and c["origin"] == ORIGIN for c in configs.values())
        relay = configs["homeassistant/switch/kitchen_node/relay/config"]
        assert relay == {
            "name": "Relay",
            "unique_id": "attic_pi_kitchen_node_relay",
            "default_entity_id": "switch.kitchen_relay",
            "state_topic": "home/kitchen/relay",
            "command_topic": "home/kitchen/relay/set",
            "payload_on": "ON", "payload_off": "OFF", "state_on": "ON", "state_off": "OFF",
            "availability": [{"topic": "home/kitchen/kitchen_node/status"}],
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": device,
            "origin": ORIGIN,
        }
        door = configs["homeassistant/binary_sensor/kitchen_node/door/config"]
        assert (door["name"], door["device_class"]) == ("Door", "opening")
        assert configs["homeassistant/binary_sensor/kitchen_node/pir/config"][
            "device_class"] == "motion"
        assert "device_class" not in configs["homeassistant/binary_sensor/kitchen_node/"
                                             "button/config"]
        temperature = configs["homeassistant/sensor/kitchen_node/temperature/config"]
        assert temperature["unit_of_measurement"] == "°C"
        # The node's firmware: the topics of docs/contracts.md "Node firmware updates".
        assert configs["homeassistant/update/kitchen_node/firmware-update/config"] == {
            "name": "Firmware",
            "unique_id": "attic_pi_kitchen_node_firmware-update",
            "default_entity_id": "update.kitchen_node_firmware",
            "state_topic": "home/kitchen/kitchen_node/firmware/state",
            "command_topic": "home/kitchen/kitchen_node/firmware/install",
            "payload_install": "install",
            "device_class": "firmware",
            "entity_category": "config",
            "availability": [{"topic": "home/kitchen/kitchen_node/status"}],
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": device,
            "origin": ORIGIN,
        }
        await gateway.stop()

    asyncio.run(scenario())


def test_a_node_going_offline_stays_and_forgetting_it_removes_everything(
        tmp_path: Path, pin_factory: MockFactory) -> None:
    async def scenario() -> None:
        gateway, bus = await started(CONFIG, tmp_path, pin_factory)
        bus.inject(NODE_TOPIC, NODE, retain=True)
        bus.publish("home/kitchen/relay", "ON", retain=True)      # as the node would
        bus.publish("home/kitchen/kitchen_node/status", "offline", retain=True)
        node_configs = {t for t in bus.retained if "/kitchen_node/" in t and
                        t.startswith("homeassistant/")}
        assert len(node_configs) == 8
        assert "homeassistant/update/kitchen_node/firmware-update/config" in node_configs
        await gateway.stop()

        # A restart of the gateway (and of a broker that lost everything) announces the
        # node again from the gateway's record, before the node reconnects.
        pin_factory.reset()
        gateway, bus = await started(CONFIG, tmp_path, pin_factory)
        assert node_configs <= set(bus.retained)

        # `gateway node forget kitchen_node` withdraws the announcement.
        bus.publish("home/kitchen/relay", "ON", retain=True)
        bus.inject(NODE_TOPIC, b"", retain=False)
        assert not node_configs & set(bus.retained)
        assert "home/kitchen/relay" not in bus.retained
        assert (tmp_path / "nodes.json").read_text().count("kitchen_node") == 0
        await gateway.stop()
        pin_factory.reset()
        gateway, bus = await started(CONFIG, tmp_path, pin_factory)
        assert not node_configs & set(bus.retained)
        await gateway.stop()

    asyncio.run(scenario())


def test_discovery_off_removes_the_nodes_configs_too(
        tmp_path: Path, pin_factory: MockFactory) -> None:
    async def scenario() -> None:
        gateway, bus = await started(CONFIG, tmp_path, pin_factory)
        bus.inject(NODE_TOPIC, NODE, retain=True)
        node_configs = {t for t in bus.retained if "/kitchen_node/" in t}
        await gateway.stop()
        pin_factory.reset()
        off = CONFIG.replace('name = "Attic Pi"', 'name = "Attic Pi"\ndiscovery = false')
        gateway, bus = await started(off, tmp_path, pin_factory)
        cleared = {t for t, p, _ in bus.published if not p}
        assert len(node_configs) == 8 and node_configs <= cleared
        bus.inject(NODE_TOPIC, NODE, retain=True)         # the node reconnects: still nothing
        assert not [t for t in bus.retained if t.startswith("homeassistant/")]
        await gateway.stop()

    asyncio.run(scenario())


def test_fewer_outputs_in_a_new_announcement_remove_the_old_entities(
        tmp_path: Path, pin_factory: MockFactory) -> None:
    async def scenario() -> None:
        gateway, bus = await started(CONFIG, tmp_path, pin_factory)
        bus.inject(NODE_TOPIC, NODE, retain=True)
        bus.inject(NODE_TOPIC, NODE.replace(b',"lamp":"l"', b""), retain=True)
        assert "homeassistant/light/kitchen_node/lamp/config" not in bus.retained
        assert "homeassistant/switch/kitchen_node/relay/config" in bus.retained
        await gateway.stop()

    asyncio.run(scenario())


def test_unusable_announcements_are_ignored(tmp_path: Path, pin_factory: MockFactory) -> None:
    bad = [b"not json", b"[1]", b'{"fw":"1","tr":"radio"}', b'{"tr":"wifi"}',
           b'{"fw":"1","tr":"wifi","out":{"Relay":"r"}}',
           b'{"fw":"1","tr":"wifi","out":{"relay":"x"}}',
           b'{"fw":"1","tr":"wifi","in":{"relay":"c"},"out":{"relay":"r"}}',
           b'{"fw":"1","tr":"wifi","in":{' + b",".join(b'"i%d":"c"' % i for i in range(9))
           + b"}}"]

    async def scenario() -> None:
        gateway, bus = await started(CONFIG, tmp_path, pin_factory)
        before = dict(bus.retained)
        for payload in bad:
            bus.inject(NODE_TOPIC, payload, retain=True)
        bus.inject("home/Kitchen/x/announce", NODE, retain=True)
        assert bus.retained == before
        await gateway.stop()

    asyncio.run(scenario())


def test_a_retained_command_to_a_node_output_is_cleared(
        tmp_path: Path, pin_factory: MockFactory) -> None:
    async def scenario() -> None:
        gateway, bus = await started(CONFIG, tmp_path, pin_factory)
        # A broker hands a retained message over flagged only when a subscription is made
        # (MQTT-3.3.1-8/9): the gateway subscribes to the command when the node announces.
        bus.inject("home/kitchen/relay/set", b"ON", retain=True)
        bus.inject(NODE_TOPIC, NODE, retain=True)
        assert ("home/kitchen/relay/set", b"", True) in bus.published
        bus.inject("home/kitchen/relay/set", b"OFF", retain=False)   # a live command: kept
        assert bus.published.count(("home/kitchen/relay/set", b"", True)) == 1
        await gateway.stop()

    asyncio.run(scenario())


# The first run makes Home Assistant's virtual environment (a few minutes).
@pytest.mark.timeout(1800)
def test_every_config_passes_home_assistants_own_schema(
        tmp_path: Path, pin_factory: MockFactory) -> None:
    """Home Assistant's MQTT integration validates each config with voluptuous and drops
    keys it does not know without a word (a suggested_area beside the name was accepted and
    ignored); here nothing may be rejected or dropped."""
    from support.ha_schema import check_configs

    async def scenario() -> dict[str, dict]:
        gateway, bus = await started(WITH_PI, tmp_path, pin_factory)
        bus.inject(NODE_TOPIC, NODE, retain=True)
        configs = discovery_configs(bus)
        await gateway.stop()
        return configs

    configs = asyncio.run(scenario())
    assert len(configs) >= 16, sorted(configs)
    assert "homeassistant/update/kitchen_node/firmware-update/config" in configs
    version, results = check_configs([(t.split("/")[1], c) for t, c in configs.items()])
    # default_entity_id arrived in Home Assistant 2025.10 (object_id before it).
    newer_than_tested = {"default_entity_id"}
    for (topic, _), result in zip(configs.items(), results, strict=True):
        assert "error" not in result, f"{topic}: Home Assistant {version}: {result['error']}"
        assert set(result["dropped"]) <= newer_than_tested, (topic, version, result)
        assert result["device_dropped"] == [], (topic, version, result)


# --- device-based discovery (discovery_format = "device") ---------------------------------

AS_DEVICES = WITH_PI.replace('name = "Attic Pi"', 'name = "Attic Pi"\ndiscovery_format = "device"')


def test_device_format_publishes_one_message_per_device(
        tmp_path: Path, pin_factory: MockFactory) -> None:
    async def scenario() -> None:
        gateway, bus = await started(AS_DEVICES, tmp_path, pin_factory)
        bus.inject(NODE_TOPIC, NODE, retain=True)
        configs = discovery_configs(bus)
        assert sorted(configs) == [
            "homeassistant/device/attic_pi/config",
            "homeassistant/device/attic_pi_node_kitchen_node/config",
            "homeassistant/device/attic_pi_room_hall/config",
            "homeassistant/device/attic_pi_room_living_room/config",
        ]
        room = configs["homeassistant/device/attic_pi_room_living_room/config"]
        assert room["device"] == LIVING_ROOM and room["origin"] == ORIGIN
        assert sorted(room["components"]) == ["living_room_humidity", "living_room_temperature"]
        temperature = room["components"]["living_room_temperature"]
        assert temperature["platform"] == "sensor" and temperature["name"] == "Temperature"
        assert "device" not in temperature
        node = configs["homeassistant/device/attic_pi_node_kitchen_node/config"]
        assert node["components"]["relay"]["command_topic"] == "home/kitchen/relay/set"
        firmware = node["components"]["firmware-update"]
        assert (firmware["platform"], firmware["command_topic"], firmware["state_topic"]) == (
            "update", "home/kitchen/kitchen_node/firmware/install",
            "home/kitchen/kitchen_node/firmware/state")
        # A node with one output less: the same message without that component, which is
        # how Home Assistant learns that the entity is gone.
        bus.inject(NODE_TOPIC, NODE.replace(b',"lamp":"l"', b""), retain=True)
        node = config_of(bus, "homeassistant/device/attic_pi_node_kitchen_node/config")
        assert "lamp" not in node["components"] and "relay" in node["components"]
        await gateway.stop()

    asyncio.run(scenario())


def test_switching_the_format_removes_the_other_forms_configs(
        tmp_path: Path, pin_factory: MockFactory) -> None:
    async def scenario() -> None:
        gateway, bus = await started(WITH_PI, tmp_path, pin_factory)
        bus.inject(NODE_TOPIC, NODE, retain=True)
        per_entity = set(discovery_configs(bus))
        await gateway.stop()
        pin_factory.reset()
        gateway, bus = await started(AS_DEVICES, tmp_path, pin_factory)
        cleared = {t for t, p, _ in bus.published if not p}
        assert per_entity <= cleared
        assert all("/device/" in t for t in discovery_configs(bus))
        await gateway.stop()

    asyncio.run(scenario())


def test_the_dashboard_reads_both_formats_alike(tmp_path: Path, pin_factory: MockFactory) -> None:
    from gateway.dashboard.catalog import Catalog

    async def snapshot(text: str, where: Path) -> list[dict]:
        gateway, bus = await started(text, where, pin_factory)
        bus.inject(NODE_TOPIC, NODE, retain=True)
        catalog = Catalog(clock=lambda: 0.0)
        for topic, payload in bus.retained.items():
            catalog.handle(topic, payload, True)
        await gateway.stop()
        pin_factory.reset()
        return catalog.snapshot()

    async def scenario() -> None:
        entities = await snapshot(WITH_PI, tmp_path / "a")
        devices = await snapshot(AS_DEVICES, tmp_path / "b")
        assert devices == entities
        relay = next(e for e in devices if e["topic"] == "home/kitchen/relay")
        assert relay["switchable"] and relay["room_title"] == "Kitchen"

    asyncio.run(scenario())


def test_a_device_config_losing_a_component_drops_it_from_the_dashboard() -> None:
    from gateway.dashboard.catalog import Catalog

    catalog = Catalog(clock=lambda: 0.0)
    topic = "homeassistant/device/n1/config"
    both = {"dev": {"ids": ["n1"], "name": "N1"}, "o": {"name": "x"},
            "avty_t": "home/k/n1/status",
            "cmps": {"a": {"p": "switch", "stat_t": "home/k/a", "cmd_t": "home/k/a/set"},
                     "b": {"p": "sensor", "stat_t": "home/k/b", "unit_of_meas": "°C"}}}
    catalog.handle(topic, json.dumps(both).encode(), True)
    assert set(catalog.entities) == {"home/k/a", "home/k/b"}
    assert catalog.entities["home/k/a"].switchable
    assert catalog.entities["home/k/b"].config.availability == (
        ("home/k/n1/status", "online", "offline"),)
    del both["cmps"]["a"]
    catalog.handle(topic, json.dumps(both).encode(), True)
    assert set(catalog.entities) == {"home/k/b"}
    catalog.handle(topic, b"", True)
    assert catalog.entities == {}
    catalog.handle(topic, b"{not json", True)          # never raises on network input
    assert catalog.entities == {}


@pytest.mark.timeout(1800)
def test_device_configs_pass_home_assistants_own_device_schema(
        tmp_path: Path, pin_factory: MockFactory) -> None:
    from support.ha_schema import check_configs

    async def scenario() -> dict[str, dict]:
        gateway, bus = await started(AS_DEVICES, tmp_path, pin_factory)
        bus.inject(NODE_TOPIC, NODE, retain=True)
        configs = discovery_configs(bus)
        await gateway.stop()
        return configs

    configs = asyncio.run(scenario())
    version, results = check_configs([("device", c) for c in configs.values()])
    if results and results[0].get("error", "").startswith("unsupported"):
        pytest.skip(f"Home Assistant {version} predates device-based discovery")
    for topic, result in zip(configs, results, strict=True):
        assert "error" not in result, f"{topic}: Home Assistant {version}: {result['error']}"
        assert all(k.endswith(".default_entity_id") for k in result["dropped"]), (topic, result)
        assert result["device_dropped"] == [], (topic, version, result)
