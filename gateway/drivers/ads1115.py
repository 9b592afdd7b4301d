"""TI ADS1115 16-bit ADC on I2C, through adafruit-circuitpython-ads1x15 (the DHT
driver's library family; it handles the multiplexer, gain and single-shot conversions).

One ``[[room.<room>]]`` entry per input: soil moisture probes, potentiometers, current
clamps. The value is the voltage on ``input`` (0-3; or a differential pair "0-1", "0-3",
"1-3", "2-3"); ``filters.multiply`` and ``offset`` turn it into the quantity measured, with
``unit`` and ``device_class`` to match. Several entries share one chip: each holds the bus
for its whole conversion.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from gateway.drivers.base import (
    Channel,
    Claim,
    DriverSpec,
    PolledDevice,
    Value,
    register,
)
from gateway.drivers.i2c import i2c_claims, i2c_options
from gateway.drivers.options import Option

if TYPE_CHECKING:
    from gateway.config.model import SensorConfig
    from gateway.hardware import Hardware, I2cBus

ADDRESSES = (0x48, 0x49, 0x4A, 0x4B)
INPUTS = ("0", "1", "2", "3", "0-1", "0-3", "1-3", "2-3")
#: gain -> full-scale range in volts (never apply more than VDD + 0.3 V to an input)
GAINS = {0.6667: 6.144, 1.0: 4.096, 2.0: 2.048, 4.0: 1.024, 8.0: 0.512, 16.0: 0.256}

CHANNEL = Channel("", "sensor", unit="V", device_class="voltage", state_class="measurement",
                  precision=3)


class Ads1115Input(PolledDevice):
    """One input (or differential pair) of an ADS1115."""

    def __init__(self, bus: I2cBus, address: int, input_: str, gain: float,
                 decimals: int = 3) -> None:
        super().__init__([dataclasses.replace(CHANNEL, precision=decimals)])
        self.bus = bus
        from adafruit_ads1x15.ads1115 import ADS1115
        from adafruit_ads1x15.analog_in import AnalogIn

        pins = [int(p) for p in input_.split("-")]
        with bus.lock:
            # 2/3 is the library's key for the +-6.144 V range.
            self._chip: Any = ADS1115(bus.device, gain=2 / 3 if gain < 1 else int(gain),
                                      address=address)
            self._input: Any = AnalogIn(self._chip, *pins)

    def read(self) -> dict[str, Value]:
        with self.bus.lock:
            return {"": float(self._input.voltage)}


def _gain_problem(value: float) -> str | None:
    if any(abs(value - g) < 0.001 for g in GAINS):
        return None
    return ("must be one of 0.6667 (+-6.144 V), 1 (+-4.096 V), 2 (+-2.048 V), "
            "4 (+-1.024 V), 8 (+-0.512 V), 16 (+-0.256 V)")


def _claims(sensor: SensorConfig) -> list[Claim]:
    # Inputs of one chip share its address; each input belongs to one entry.
    claims = [c if c.key != "address" else Claim(c.key, c.label, share="ads1115")
              for c in i2c_claims(sensor)]
    bus, address = sensor.options["bus"], sensor.options["address"]
    claims.append(Claim("input", f"ADS1115 0x{address:02x} on bus {bus} input "
                        f"{sensor.options['input']}"))
    return claims


def _build(sensor: SensorConfig, hardware: Hardware) -> Ads1115Input:
    options = sensor.options
    bus = hardware.i2c_bus(options["bus"], options["address"], sensor.driver)
    return Ads1115Input(bus, options["address"], options["input"], options["gain"],
                        options["decimals"])


SPEC = register(DriverSpec(
    kinds=("ads1115",),
    summary="ADS1115 analog input (voltage; scale it with filters) on I2C",
    build=_build,
    channels=lambda kind: [CHANNEL],
    needs_pin=False,
    interval=(10.0, 0.5),
    claims=_claims,
    options={
        **i2c_options(ADDRESSES, "ADS1115"),
        "input": Option(str, "0", "AIN0-3 against ground (\"0\"..\"3\"), or a differential "
                        "pair \"0-1\", \"0-3\", \"1-3\", \"2-3\"", choices=INPUTS),
        "gain": Option(float, 1.0, "programmable gain: 0.6667 (+-6.144 V), 1 (+-4.096 V), "
                       "2, 4, 8, 16 (+-0.256 V)", check=_gain_problem),
        "decimals": Option(int, 3, "decimals of the published value, after filters: 3 for "
                           "volts, fewer for a scaled quantity", minimum=0, maximum=6),
    },
))
