"""ADS1115 inputs through adafruit-circuitpython-ads1x15 on a simulated I2C bus: one entry
per input sharing one chip, scaling with filters, differential pairs, bus errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gw_rig import config_errors, start

from gateway.drivers.ads1115_sim import SimulatedAds1115
from gateway.drivers.i2c_sim import Fault, SimulatedI2C
from gateway.hardware import Hardware

CONFIG = '''
[[room.garden]]
driver = "ads1115"
name = "soil"
input = "0"
unit = "%"
device_class = "moisture"
filters = { multiply = -71.43, offset = 185.7 }
decimals = 1
max_failures = 1
retries = 0
[[room.garden]]
driver = "ads1115"
name = "battery"
input = "1"
gain = 0.6667
[[room.garden]]
driver = "ads1115"
name = "shunt"
input = "2-3"
gain = 16
'''


def wired(volts: list[float]) -> tuple[Hardware, SimulatedAds1115]:
    bus = SimulatedI2C(1)
    chip = SimulatedAds1115([lambda v=v: v for v in volts])
    bus.attach(0x48, chip)
    return Hardware(simulated=True, i2c_factory=lambda number: bus), chip


def test_inputs_of_one_chip_read_at_once_each_get_their_own(tmp_path: Path) -> None:
    async def scenario() -> None:
        hardware, chip = wired([1.9, 5.01, 0.1234, 0.0234])
        rig = await start(CONFIG, tmp_path, hardware)
        runners = [rig.runner(f"room.garden[{i}]") for i in range(3)]
        for _ in range(5):   # concurrent reads: each conversion holds the bus
            assert all(await asyncio.gather(*(r.poll_once() for r in runners)))
        assert set(rig.bus.values("home/garden/soil")) == {"50.0"}   # -71.43 * 1.9 + 185.7
        assert set(rig.bus.values("home/garden/battery")) == {"5.010"}   # +-6.144 V range
        assert set(rig.bus.values("home/garden/shunt")) == {"0.100"}     # AIN2 - AIN3
        assert chip.conversions == 15
        soil = rig.discovery("homeassistant/sensor/gateway/garden_soil/config")
        assert (soil["device_class"], soil["unit_of_measurement"],
                soil["suggested_display_precision"]) == ("moisture", "%", 1)
        battery = rig.discovery("homeassistant/sensor/gateway/garden_battery/config")
        assert (battery["device_class"], battery["unit_of_measurement"]) == ("voltage", "V")
        await rig.gateway.stop()

    asyncio.run(scenario())


def test_nack_and_timeout_fail_reads(tmp_path: Path) -> None:
    async def scenario() -> None:
        hardware, chip = wired([1.0, 1.0, 1.0, 1.0])
        rig = await start(CONFIG, tmp_path, hardware)
        runner = rig.runner("room.garden[0]")
        chip.fault = Fault.TIMEOUT
        assert await runner.poll_once() is False
        assert runner.last_error == "[Errno 110] Connection timed out"
        assert rig.last("home/garden/soil/availability") == "offline"
        chip.fault = Fault.NACK
        assert await runner.poll_once() is False
        assert runner.last_error == "[Errno 121] Remote I/O error"
        chip.fault = Fault.NONE
        assert await runner.poll_once() is True
        await rig.gateway.stop()

    asyncio.run(scenario())


def test_config_errors() -> None:
    assert config_errors(CONFIG) == []
    two = '[[room.a]]\ndriver = "ads1115"\ninput = "1"\n' \
          '[[room.b]]\ndriver = "ads1115"\ninput = "1"\n'
    assert config_errors(two) == [
        "test.toml:6: room.b[0].input: ADS1115 0x48 on bus 1 input 1 is already used by "
        "room.a[0] (line 1)"]
    assert config_errors('[[room.a]]\ndriver = "ads1115"\naddress = 0x4c\n') == [
        "test.toml:3: room.a[0].address: ADS1115 chips answer at 0x48 or 0x49 or 0x4a or 0x4b "
        "only, not 0x4c"]
    assert config_errors('[[room.a]]\ndriver = "ads1115"\ngain = 3\n') == [
        "test.toml:3: room.a[0].gain: must be one of 0.6667 (+-6.144 V), 1 (+-4.096 V), "
        "2 (+-2.048 V), 4 (+-1.024 V), 8 (+-0.512 V), 16 (+-0.256 V)"]
    assert config_errors('[[room.a]]\ndriver = "ads1115"\ninput = "1-2"\n') == [
        "test.toml:3: room.a[0].input: must be one of '0', '1', '2', '3', '0-1', '0-3', "
        "'1-3', '2-3', not '1-2'"]
    # two chips at two addresses
    assert config_errors('[[room.a]]\ndriver = "ads1115"\naddress = 0x48\n'
                         '[[room.b]]\ndriver = "ads1115"\naddress = 0x49\n') == []


def test_state_class_is_part_of_the_shared_vocabulary(tmp_path: Path) -> None:
    async def scenario() -> None:
        hardware, _ = wired([1.0, 1.0, 1.0, 1.0])
        text = CONFIG.replace('name = "battery"', 'name = "battery"\nstate_class = "total"')
        rig = await start(text, tmp_path, hardware)
        battery = rig.discovery("homeassistant/sensor/gateway/garden_battery/config")
        soil = rig.discovery("homeassistant/sensor/gateway/garden_soil/config")
        assert (battery["state_class"], soil["state_class"]) == ("total", "measurement")
        await rig.gateway.stop()

    asyncio.run(scenario())
    assert config_errors(CONFIG.replace('gain = 16', 'gain = 16\nstate_class = "sum"')) == [
        "test.toml:22: room.garden[2].state_class: must be one of 'measurement', 'total', "
        "'total_increasing', not 'sum'"]
    assert config_errors('[[room.a]]\ndriver = "bme280"\nstate_class = "total"\n') == [
        "test.toml:3: room.a[0].state_class: bme280 has several channels: set state_class in "
        "[room.<room>.<channel>] (temperature, humidity, pressure)"]
