"""BME280 / BMP280 through adafruit-circuitpython-bme280 / -bmp280 on a simulated I2C bus:
the library's real register traffic and compensation, the bus errors Linux reports, and
the config checks of I2C addresses and pins."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from gw_rig import config_errors, start

from gateway.drivers.bme280_sim import SimulatedBme280
from gateway.drivers.i2c_sim import Fault, SimulatedI2C
from gateway.hardware import Hardware

CONFIG = '''
[[room.office]]
driver = "bme280"
address = 0x76
max_failures = 1
retries = 1
retry_delay = 0.1
[[room.attic]]
driver = "bmp280"
address = 0x77
'''


def bus_with(*chips: tuple[int, SimulatedBme280]) -> tuple[Hardware, SimulatedI2C]:
    bus = SimulatedI2C(1)
    for address, chip in chips:
        bus.attach(address, chip)
    return Hardware(simulated=True, i2c_factory=lambda number: bus), bus


def office() -> SimulatedBme280:
    return SimulatedBme280("bme280", lambda: 21.37, lambda: 48.2, lambda: 1009.86)


def attic() -> SimulatedBme280:
    return SimulatedBme280("bmp280", lambda: -4.0, lambda: 0.0, lambda: 987.54)


def test_values_come_through_the_library_and_its_compensation(tmp_path: Path) -> None:
    async def scenario() -> None:
        hardware, bus = bus_with((0x76, office()), (0x77, attic()))
        rig = await start(CONFIG, tmp_path, hardware)
        assert await rig.runner("room.office[0]").poll_once()
        assert await rig.runner("room.attic[0]").poll_once()
        assert rig.last("home/office/temperature") == "21.4"
        assert rig.last("home/office/humidity") == "48.2"
        assert rig.last("home/office/pressure") == "1009.9"
        assert rig.last("home/attic/temperature") == "-4.0"
        assert rig.last("home/attic/pressure") == "987.5"
        assert "home/attic/humidity" not in rig.bus.retained   # a BMP280 has none
        # one forced measurement per value read: the chip sleeps in between
        assert bus.chips[0x76].measurements == 3
        temperature = rig.discovery("homeassistant/sensor/gateway/office_pressure/config")
        assert (temperature["device_class"], temperature["unit_of_measurement"],
                temperature["state_class"]) == ("atmospheric_pressure", "hPa", "measurement")
        await rig.gateway.stop()

    asyncio.run(scenario())


def test_nack_and_bus_timeout_fail_the_read_and_the_sensor_comes_back(tmp_path: Path) -> None:
    async def scenario() -> None:
        hardware, bus = bus_with((0x76, office()), (0x77, attic()))
        rig = await start(CONFIG, tmp_path, hardware)
        runner = rig.runner("room.office[0]")
        bus.chips[0x76].fault = Fault.NACK
        assert await runner.poll_once() is False
        assert runner.last_error == "[Errno 121] Remote I/O error"
        assert rig.last("home/office/temperature/availability") == "offline"
        bus.chips[0x76].fault = Fault.TIMEOUT
        assert await runner.poll_once() is False
        assert runner.last_error == "[Errno 110] Connection timed out"
        bus.chips[0x76].fault = Fault.NONE
        assert await runner.poll_once() is True
        assert rig.last("home/office/humidity/availability") == "online"
        await rig.gateway.stop()

    asyncio.run(scenario())


def test_a_bmp280_where_a_bme280_is_configured_is_announced_offline(tmp_path: Path) -> None:
    async def scenario() -> None:
        # The common mix-up: a BMP280 board sold as a BME280.
        hardware, _ = bus_with((0x76, attic()), (0x77, attic()))
        rig = await start(CONFIG, tmp_path, hardware)
        assert not [r for r in rig.gateway.polled if r.name == "room.office[0]"]
        assert rig.last("home/office/temperature/availability") == "offline"
        assert "homeassistant/sensor/gateway/office_humidity/config" in rig.bus.retained
        assert await rig.runner("room.attic[0]").poll_once()   # the other chip runs
        await rig.gateway.stop()

    asyncio.run(scenario())


def test_a_missing_chip_does_not_stop_the_others(tmp_path: Path) -> None:
    async def scenario() -> None:
        hardware, _ = bus_with((0x77, attic()))
        rig = await start(CONFIG, tmp_path, hardware)
        assert rig.last("home/office/pressure/availability") == "offline"
        assert await rig.runner("room.attic[0]").poll_once()
        await rig.gateway.stop()

    asyncio.run(scenario())


def test_config_errors() -> None:
    assert config_errors(CONFIG) == []
    assert config_errors('[[room.a]]\ndriver = "bme280"\naddress = 0x40\n') == [
        "test.toml:3: room.a[0].address: BME280 / BMP280 chips answer at 0x76 or 0x77 "
        "only, not 0x40"]
    assert config_errors('[[room.a]]\ndriver = "bme280"\n[[room.b]]\ndriver = "bmp280"\n') == [
        "test.toml:3: room.b[0].address: I2C bus 1 address 0x76 is already used by "
        "room.a[0] (line 1)"]
    # the same address on another bus is another chip
    assert config_errors('[[room.a]]\ndriver = "bme280"\n[[room.b]]\ndriver = "bmp280"\n'
                         'bus = 3\n') == []
    # bus 1 is GPIO 2 and 3: a button there is a clash, whichever comes first
    assert config_errors('[[room.a]]\ndriver = "button"\npin = 3\n'
                         '[[room.b]]\ndriver = "bme280"\n') == [
        "test.toml:4: room.b[0].bus: GPIO 3 (I2C bus 1 SCL) is already used by room.a[0] "
        "(line 1)"]
    assert config_errors('[[room.b]]\ndriver = "bme280"\n'
                         '[[room.a]]\ndriver = "relay"\npin = 2\n') == [
        "test.toml:5: room.a[0].pin: GPIO 2 is already used by room.b[0] (line 1) as "
        "I2C bus 1 SDA"]
    assert config_errors('[[room.a]]\ndriver = "bme280"\npin = 2\n') == [
        "test.toml:3: room.a[0].pin: bme280 takes no pin"]


def test_without_the_i2c_bus_the_sensor_is_offline_and_says_why(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        # Real hardware, but a bus number no machine has: what a Pi without I2C enabled sees.
        rig = await start('[[room.office]]\ndriver = "bme280"\nbus = 63\n', tmp_path,
                          Hardware(simulated=False))
        assert rig.last("home/office/temperature/availability") == "offline"
        await rig.gateway.stop()

    asyncio.run(scenario())
    assert "no such I2C bus (is I2C enabled?): '/dev/i2c-63'" in caplog.text
