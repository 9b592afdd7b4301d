"""ROHM BH1750 ambient light sensor on I2C, through adafruit-circuitpython-bh1750 (the
library family of the DHT driver; it sets the continuous high-resolution mode and
converts counts to lux). Range 0-65535 counts: up to about 27000 lx at 0.5 lx per count,
so direct sunlight reads as the maximum."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.drivers.base import (
    Channel,
    DriverSpec,
    PolledDevice,
    Value,
    register,
)
from gateway.drivers.i2c import i2c_claims, i2c_options

if TYPE_CHECKING:
    from gateway.config.model import SensorConfig
    from gateway.hardware import Hardware, I2cBus

ADDRESSES = (0x23, 0x5C)

CHANNEL = Channel("", "sensor", unit="lx", device_class="illuminance",
                  state_class="measurement", precision=1)


class Bh1750(PolledDevice):
    """One BH1750 behind its Adafruit library object."""

    def __init__(self, bus: I2cBus, address: int) -> None:
        super().__init__([CHANNEL])
        self.bus = bus
        from adafruit_bh1750 import BH1750

        with bus.lock:
            self._chip: Any = BH1750(bus.device, address)

    def read(self) -> dict[str, Value]:
        with self.bus.lock:
            return {"": float(self._chip.lux)}


def _build(sensor: SensorConfig, hardware: Hardware) -> Bh1750:
    bus = hardware.i2c_bus(sensor.options["bus"], sensor.options["address"], sensor.driver)
    return Bh1750(bus, sensor.options["address"])


SPEC = register(DriverSpec(
    kinds=("bh1750",),
    summary="BH1750 light sensor (lux) on I2C",
    build=_build,
    channels=lambda kind: [CHANNEL],
    needs_pin=False,
    interval=(30.0, 1.0),
    claims=i2c_claims,
    options=i2c_options(ADDRESSES, "BH1750"),
))
