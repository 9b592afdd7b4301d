"""Bosch BME280 (temperature, humidity, pressure) and BMP280 (temperature, pressure) on
I2C, through adafruit-circuitpython-bme280 / -bmp280: the same library family as the DHT
driver, and they carry Bosch's compensation formulas and the forced-mode sequence.

Each read is one forced measurement per value (the chip sleeps in between, so it does not
warm itself up). A chip of the other kind at the address (a BMP280 sold as a BME280, which
is common) fails at start with the chip id it found.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gateway.drivers.base import (
    Channel,
    DriverSpec,
    PolledDevice,
    ReadError,
    Value,
    register,
)
from gateway.drivers.i2c import as_values, i2c_claims, i2c_options

if TYPE_CHECKING:
    from gateway.config.model import SensorConfig
    from gateway.hardware import Hardware, I2cBus

ADDRESSES = (0x76, 0x77)
#: the part's specified ranges (datasheet section 1)
RANGES = {"temperature": (-40.0, 85.0), "humidity": (0.0, 100.0), "pressure": (300.0, 1100.0)}

_TEMPERATURE = Channel("temperature", "sensor", unit="°C", device_class="temperature",
                       state_class="measurement", precision=1)
_HUMIDITY = Channel("humidity", "sensor", unit="%", device_class="humidity",
                    state_class="measurement", precision=1)
_PRESSURE = Channel("pressure", "sensor", unit="hPa", device_class="atmospheric_pressure",
                    state_class="measurement", precision=1)


def bosch_channels(kind: str) -> list[Channel]:
    """Temperature and pressure, and humidity on the BME280."""
    if kind == "bme280":
        return [_TEMPERATURE, _HUMIDITY, _PRESSURE]
    return [_TEMPERATURE, _PRESSURE]


class BoschSensor(PolledDevice):
    """A BME280 or BMP280 behind its Adafruit library object."""

    def __init__(self, kind: str, bus: I2cBus, address: int) -> None:
        super().__init__(bosch_channels(kind))
        self.kind = kind
        self.bus = bus
        with bus.lock:
            if kind == "bme280":
                from adafruit_bme280.basic import Adafruit_BME280_I2C

                self._chip: Any = Adafruit_BME280_I2C(bus.device, address)
            else:
                from adafruit_bmp280 import Adafruit_BMP280_I2C

                self._chip = Adafruit_BMP280_I2C(bus.device, address)

    def read(self) -> dict[str, Value]:
        with self.bus.lock:
            humidity = self._chip.humidity if self.kind == "bme280" else None
            values = as_values(temperature=self._chip.temperature, humidity=humidity,
                               pressure=self._chip.pressure)
        if not values:
            raise ReadError("no value read")
        return values

    def implausible(self, values: Mapping[str, Value], previous: Mapping[str, Value] | None,
                    elapsed: float) -> str | None:
        for key, value in values.items():
            low, high = RANGES[key]
            # The library clamps humidity to 0..100; a chip reading exactly 0 % is broken.
            if not low <= float(value) <= high or (key == "humidity" and value == 0.0):
                return f"{key} {value:g} outside {low:g}..{high:g}"
        return None


def _build(sensor: SensorConfig, hardware: Hardware) -> BoschSensor:
    bus = hardware.i2c_bus(sensor.options["bus"], sensor.options["address"], sensor.driver)
    return BoschSensor(sensor.driver, bus, sensor.options["address"])


SPEC = register(DriverSpec(
    kinds=("bme280", "bmp280"),
    summary="BME280 / BMP280 temperature, humidity and pressure on I2C",
    build=_build,
    channels=bosch_channels,
    needs_pin=False,
    interval=(60.0, 1.0),
    claims=i2c_claims,
    options=i2c_options(ADDRESSES, "BME280 / BMP280"),
))
