"""PWM outputs through gpiozero's PWMOutputDevice on a mock PWM pin: 0-100 % commands,
ON back to the last level, the duty cycle on the pin, restore at boot, and Home
Assistant's light-with-brightness and fan-with-percentage configs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gw_rig import config_errors, start

from gateway.dashboard.catalog import Catalog
from gateway.drivers.gpio_sim import WiredMockFactory
from gateway.hardware import Hardware

CONFIG = '''
[[room.hall]]
driver = "pwm"
name = "strip"
pin = 18
[[room.attic]]
driver = "pwm_fan"
name = "fan"
pin = 13
min_duty = 20
boot_state = "restore"
'''


def test_levels_on_off_toggle_and_bad_commands(tmp_path: Path) -> None:
    async def scenario() -> None:
        factory = WiredMockFactory()
        rig = await start(CONFIG, tmp_path, Hardware(simulated=True, pin_factory=factory))
        pin = factory.pin(18)
        assert rig.last("home/hall/strip") == "0" and pin.state == 0
        assert pin.frequency == 100
        for command, level, duty in ((b"40", "40", 0.4), (b"OFF", "0", 0.0),
                                     (b"ON", "40", 0.4), (b"TOGGLE", "0", 0.0),
                                     (b"100%", "100", 1.0), (b"12.5", "12", 0.125)):
            rig.bus.inject("home/hall/strip/set", command)
            assert rig.last("home/hall/strip") == level, command
            assert abs(pin.state - duty) < 1e-9, command
        published = len(rig.bus.published)
        rig.bus.inject("home/hall/strip/set", b"150")     # out of range: ignored, echoed
        rig.bus.inject("home/hall/strip/set", b"bright")
        assert abs(pin.state - 0.125) < 1e-9
        assert rig.bus.published[published:] == [("home/hall/strip", b"12", True)] * 2
        # A retained command, there when the subscription is made again (a broker hands
        # it over flagged only then, MQTT-3.3.1-8/9), is never obeyed.
        rig.bus.reconnect(retained={"home/hall/strip/set": b"80"})
        assert abs(pin.state - 0.125) < 1e-9
        await rig.gateway.stop()

    asyncio.run(scenario())


def test_fan_restores_its_level_and_never_runs_below_min_duty(tmp_path: Path) -> None:
    async def scenario() -> None:
        factory = WiredMockFactory()
        first = await start(CONFIG, tmp_path, Hardware(simulated=True, pin_factory=factory))
        first.bus.inject("home/attic/fan/set", b"65")
        await first.gateway.stop()
        factory.reset()
        # restarted on a broker that kept the retained level
        rig = await start(CONFIG, tmp_path, Hardware(simulated=True, pin_factory=factory),
                          retained={"home/attic/fan": first.bus.retained["home/attic/fan"]})
        pin = factory.pin(13)
        assert rig.last("home/attic/fan") == "65"
        assert abs(pin.state - 0.72) < 1e-9          # 20 % + 65 % of the remaining 80 %
        rig.bus.inject("home/attic/fan/set", b"1")
        assert abs(pin.state - 0.208) < 1e-9
        rig.bus.inject("home/attic/fan/set", b"0")
        assert pin.state == 0
        # the strip, boot_state off, ignores what the broker kept
        assert rig.last("home/hall/strip") == "0"
        await rig.gateway.stop()

    asyncio.run(scenario())


def test_discovered_as_a_light_with_brightness_and_a_fan_with_percentage(
        tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = await start(CONFIG, tmp_path,
                          Hardware(simulated=True, pin_factory=WiredMockFactory()))
        light = rig.discovery("homeassistant/light/gateway/hall_strip/config")
        assert {k: light[k] for k in light if "brightness" in k or "command" in k
                or k.startswith("state")} == {
            "command_topic": "home/hall/strip/set",
            "brightness_command_topic": "home/hall/strip/set",
            "brightness_state_topic": "home/hall/strip",
            "brightness_scale": 100,
            "on_command_type": "brightness",
            "state_topic": "home/hall/strip",
            "state_value_template": "{{ 'ON' if value | float(0) > 0 else 'OFF' }}",
        }
        assert "suggested_display_precision" not in light and "state_on" not in light
        fan = rig.discovery("homeassistant/fan/gateway/attic_fan/config")
        assert (fan["percentage_command_topic"], fan["percentage_state_topic"],
                fan["speed_range_min"], fan["speed_range_max"]) == (
            "home/attic/fan/set", "home/attic/fan", 1, 100)
        assert (fan["payload_on"], fan["payload_off"]) == ("ON", "OFF")
        await rig.gateway.stop()

    asyncio.run(scenario())


def test_config_errors() -> None:
    assert config_errors(CONFIG + '[[room.hall]]\ndriver = "relay"\npin = 18\n') == [
        "test.toml:14: room.hall[1].pin: GPIO 18 is already used by room.hall[0] (line 2)"]
    assert config_errors('[[room.a]]\ndriver = "pwm"\npin = 18\nmin_duty = 100\n') == [
        "test.toml:4: room.a[0].min_duty: must be at most 99, not 100"]


def test_the_dashboard_shows_and_plots_the_level(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = await start(CONFIG, tmp_path,
                          Hardware(simulated=True, pin_factory=WiredMockFactory()))
        rig.bus.inject("home/hall/strip/set", b"40")
        catalog = Catalog()
        for topic, payload in rig.bus.retained.items():
            catalog.handle(topic, payload, retained=True)
        strip = catalog.entities["home/hall/strip"]
        shown = catalog.entity_json(strip)
        assert (shown["kind"], shown["level"], shown["on"], shown["switchable"]) == (
            "light", 40.0, True, True)
        assert strip.number() == 40.0     # what the history stores and the plot draws
        fan = catalog.entity_json(catalog.entities["home/attic/fan"])
        assert (fan["kind"], fan["level"], fan["on"]) == ("fan", 0.0, False)
        assert catalog.payload_for("home/attic/fan", True) == "ON"
        await rig.gateway.stop()

    asyncio.run(scenario())
