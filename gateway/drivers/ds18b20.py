"""DS18B20 (and DS18S20, DS1822) 1-Wire temperature probes through the kernel's driver.

Several probes share one GPIO (the w1-gpio overlay's ``gpiopin``, 4.7 kOhm pull-up to
3.3 V); each ``[[room.<room>]]`` entry names one probe by its ROM id, as listed in
/sys/bus/w1/devices. A read is rejected when the kernel's CRC check failed, when the
scratchpad is all zeros (a shorted line passes the CRC), and when it holds 85.0 degC, the
power-on value a probe returns when it lost power or the conversion never ran.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from gateway.drivers.base import (
    POLLED_OPTIONS,
    Channel,
    Claim,
    DriverSpec,
    PolledDevice,
    ReadError,
    Value,
    register,
)
from gateway.drivers.options import Option
from gateway.drivers.w1_sysfs import THERM_FAMILIES, W1Sysfs

if TYPE_CHECKING:
    from gateway.config.model import SensorConfig
    from gateway.hardware import Hardware

POWER_ON_VALUE = 85.0
RANGE = (-55.0, 125.0)
_ROM = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{12}$")

CHANNEL = Channel("", "sensor", unit="°C", device_class="temperature",
                  state_class="measurement", precision=1)


def parse_slave(text: str) -> float:
    """The temperature in w1_slave's text; ReadError for every kind of bad read."""
    lines = text.strip().splitlines()
    if len(lines) < 2 or "crc=" not in lines[0]:
        raise ReadError(f"unreadable w1_slave: {text.strip()[:60]!r}")
    if not lines[0].rstrip().endswith("YES"):
        raise ReadError("CRC check failed (noise on the 1-Wire line?)")
    scratchpad = lines[0].split(":", 1)[0].split()
    if scratchpad and all(b == "00" for b in scratchpad):
        raise ReadError("all-zero scratchpad (data line shorted to ground?)")
    match = re.search(r"t=(-?\d+)", lines[1])
    if match is None:
        raise ReadError(f"no temperature in w1_slave: {lines[1][:60]!r}")
    celsius = int(match.group(1)) / 1000.0
    if celsius == POWER_ON_VALUE:
        raise ReadError("85.0 degC power-on value: the probe reset or lost power "
                        "(parasite power needs a stronger pull-up)")
    if not RANGE[0] <= celsius <= RANGE[1]:
        raise ReadError(f"{celsius:g} degC outside the probe's range")
    return celsius


class Ds18b20(PolledDevice):
    """One probe, by ROM id, on the kernel's 1-Wire bus."""

    def __init__(self, bus: W1Sysfs, rom: str) -> None:
        super().__init__([CHANNEL])
        self.bus = bus
        self.rom = rom

    def read(self) -> dict[str, Value]:
        try:
            text = self.bus.read_slave(self.rom)
        except FileNotFoundError:
            seen = ", ".join(self.bus.probes()) or "none"
            raise ReadError(f"probe {self.rom} is not on the 1-Wire bus (found: {seen})") \
                from None
        return {"": parse_slave(text)}


def _rom_problem(value: str) -> str | None:
    if not _ROM.match(value) or value[:2] not in THERM_FAMILIES:
        return ("must be a probe's ROM id as in /sys/bus/w1/devices, e.g. "
                "\"28-0316a2795eff\"")
    return None


def _claims(sensor: SensorConfig) -> list[Claim]:
    # Probes share their pin (it is one bus); a ROM id belongs to one entry.
    claims = [Claim("rom", f"1-Wire probe {sensor.options['rom']}")]
    if sensor.pin is not None:
        claims.insert(0, Claim("pin", f"GPIO {sensor.pin}", share="1-wire"))
    return claims


def _build(sensor: SensorConfig, hardware: Hardware) -> Ds18b20:
    options: Mapping[str, object] = sensor.options
    rom = str(options["rom"])
    return Ds18b20(hardware.w1_bus(rom), rom)


SPEC = register(DriverSpec(
    kinds=("ds18b20",),
    summary="DS18B20 / DS18S20 / DS1822 1-Wire temperature probes (several per pin)",
    build=_build,
    channels=lambda kind: [CHANNEL],
    interval=(30.0, 1.0),
    claims=_claims,
    options={
        **POLLED_OPTIONS,
        "rom": Option(str, None, "the probe's ROM id, a directory in /sys/bus/w1/devices "
                      "(e.g. 28-0316a2795eff)", required=True, check=_rom_problem),
    },
))
