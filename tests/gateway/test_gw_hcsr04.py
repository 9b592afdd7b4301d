"""HC-SR04 through gpiozero's DistanceSensor on mock pins that answer each trigger pulse
with an echo as long as the sound's round trip: distance, echoes that stop, pin clashes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gw_rig import config_errors, start, wait_until

from gateway.drivers.gpio_sim import EchoTriggerPin, WiredMockFactory
from gateway.hardware import Hardware

CONFIG = '''
[[room.garden]]
driver = "hcsr04"
name = "tank"
pin = 23
echo = 24
max_distance = 3.0
echo_timeout = 0.5
max_failures = 1
retries = 0
'''


def wired(distance: list[float | None]) -> tuple[Hardware, WiredMockFactory]:
    factory = WiredMockFactory()
    factory.wire(23, EchoTriggerPin, echo_gpio=24, distance=lambda: distance[0])
    return Hardware(simulated=True, pin_factory=factory), factory


def test_distance_from_echo_time_and_offline_when_echoes_stop(tmp_path: Path) -> None:
    async def scenario() -> None:
        distance: list[float | None] = [1.0]
        hardware, factory = wired(distance)
        rig = await start(CONFIG, tmp_path, hardware)
        runner = rig.runner("room.garden[0]")
        trigger = factory.pin(23)
        sensor = runner.device._sensor  # type: ignore[attr-defined]
        await wait_until(lambda: sensor.last_echo is not None and trigger.pings >= 5)
        assert await runner.poll_once()
        # 5.8 ms of echo is 100 cm; the machine's sleep() may overshoot under load
        centimetres = float(rig.last("home/garden/tank") or "nan")
        assert 95.0 <= centimetres <= 180.0, centimetres
        config = rig.discovery("homeassistant/sensor/gateway/garden_tank/config")
        assert (config["device_class"], config["unit_of_measurement"]) == ("distance", "cm")

        distance[0] = None   # nothing answers: a loose echo wire
        pings = trigger.pings
        await wait_until(lambda: trigger.pings > pings + 3)
        await asyncio.sleep(0.6)
        assert await runner.poll_once() is False
        assert runner.last_error is not None and runner.last_error.startswith("no echo for")
        assert rig.last("home/garden/tank/availability") == "offline"
        distance[0] = 0.5
        await wait_until(lambda: sensor.last_echo is not None and sensor.distance < 0.9)
        assert await runner.poll_once() is True
        assert rig.last("home/garden/tank/availability") == "online"
        await rig.gateway.stop()

    asyncio.run(scenario())


def test_config_errors() -> None:
    assert config_errors(CONFIG) == []
    assert config_errors(CONFIG + '[[room.hall]]\ndriver = "button"\npin = 24\n') == [
        "test.toml:13: room.hall[0].pin: GPIO 24 is already used by room.garden[0] (line 2)"]
    assert config_errors('[[room.a]]\ndriver = "hcsr04"\npin = 23\necho = 23\n') == [
        "test.toml:4: room.a[0].echo: GPIO 23 is given twice"]
    assert config_errors('[[room.a]]\ndriver = "hcsr04"\npin = 23\n') == [
        "test.toml:1: room.a[0]: missing key 'echo'"]
    assert config_errors('[[room.a]]\ndriver = "hcsr04"\npin = 23\necho = 30\n') == [
        "test.toml:4: room.a[0].echo: must be at most 27, not 30"]
