"""Home Assistant discovery: payloads field by field, removal of entities that left the
config, and re-announcing when Home Assistant comes online."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

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

DEVICE = {
    "identifiers": ["attic_pi"],
    "name": "Attic Pi",
    "manufacturer": "sensor-gateway",
    "model": "Raspberry Pi sensor gateway",
    "sw_version": __version__,
}


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
            "name": "Living Room temperature",
            "unique_id": "attic_pi_living_room_temperature",
            "default_entity_id": "sensor.living_room_temperature",
            "state_topic": "home/living_room/temperature",
            "availability": [{"topic": "home/attic_pi/status"},
                             {"topic": "home/living_room/temperature/availability"}],
            "availability_mode": "all",
            "payload_available": "online",
            "payload_not_available": "offline",
            "suggested_area": "Living Room",
            "device": DEVICE,
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
        assert relay["name"] == "Hall Light"
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
        assert (window["device_class"], window["name"]) == ("window", "Bedroom Window")
        leak = config_of(bus, "homeassistant/binary_sensor/gateway/bedroom_leak/config")
        assert leak["device_class"] == "moisture"
        await gateway.stop()

    asyncio.run(scenario())
