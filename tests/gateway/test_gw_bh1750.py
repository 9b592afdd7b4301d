"""BH1750 through adafruit-circuitpython-bh1750 on a simulated I2C bus: lux, a chip that
hangs the transfer (the runtime's read timeout), and a chip that stops answering."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gw_rig import config_errors, start

from gateway.drivers.bh1750_sim import SimulatedBh1750
from gateway.drivers.i2c_sim import Fault, SimulatedI2C
from gateway.hardware import Hardware

CONFIG = '''
[[room.office]]
driver = "bh1750"
name = "light"
address = 0x5c
max_failures = 1
retries = 0
read_timeout = 0.5
'''


def wired(lux: float) -> tuple[Hardware, SimulatedBh1750]:
    bus = SimulatedI2C(1)
    chip = SimulatedBh1750(lambda: lux)
    bus.attach(0x5C, chip)
    return Hardware(simulated=True, i2c_factory=lambda number: bus), chip


def test_lux_is_read_in_high_resolution_mode(tmp_path: Path) -> None:
    async def scenario() -> None:
        hardware, chip = wired(347.25)
        rig = await start(CONFIG, tmp_path, hardware)
        assert await rig.runner("room.office[0]").poll_once()
        assert chip.instruction == 0x11          # continuous H-resolution mode 2
        assert rig.last("home/office/light") == "347.1"   # 0.5 lx steps
        config = rig.discovery("homeassistant/sensor/gateway/office_light/config")
        assert (config["device_class"], config["unit_of_measurement"]) == ("illuminance", "lx")
        await rig.gateway.stop()

    asyncio.run(scenario())


def test_a_hung_transfer_times_out_and_the_sensor_goes_offline(tmp_path: Path) -> None:
    async def scenario() -> None:
        hardware, chip = wired(100.0)
        rig = await start(CONFIG, tmp_path, hardware)
        runner = rig.runner("room.office[0]")
        chip.fault = Fault.HANG
        assert await runner.poll_once() is False
        assert rig.last("home/office/light/availability") == "offline"
        # the hung read still holds its thread: the next attempt does not pile on
        assert await runner.poll_once() is False
        assert runner.last_error == "the previous read has not returned yet"
        chip.fault = Fault.NONE
        chip.release.set()
        await asyncio.sleep(0.2)
        assert await runner.poll_once() is True
        assert rig.last("home/office/light/availability") == "online"
        await rig.gateway.stop()

    asyncio.run(scenario())


def test_a_chip_that_stops_answering_fails_with_the_kernels_error(tmp_path: Path) -> None:
    async def scenario() -> None:
        hardware, chip = wired(10.0)
        rig = await start(CONFIG, tmp_path, hardware)
        runner = rig.runner("room.office[0]")
        chip.fault = Fault.NACK
        assert await runner.poll_once() is False
        assert runner.last_error == "[Errno 121] Remote I/O error"
        await rig.gateway.stop()

    asyncio.run(scenario())


def test_config_errors() -> None:
    assert config_errors('[[room.a]]\ndriver = "bh1750"\naddress = 0x29\n') == [
        "test.toml:3: room.a[0].address: BH1750 chips answer at 0x23 or 0x5c only, not 0x29"]
    assert config_errors('[[room.a]]\ndriver = "bh1750"\n[[room.b]]\ndriver = "bh1750"\n') == [
        "test.toml:3: room.b[0].address: I2C bus 1 address 0x23 is already used by "
        "room.a[0] (line 1)"]
    assert config_errors('[[room.a]]\ndriver = "bh1750"\nbus = 64\n') == [
        "test.toml:3: room.a[0].bus: must be at most 63, not 64"]
