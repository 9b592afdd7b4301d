"""What the I2C drivers share: the ``bus`` and ``address`` options, the pins a bus
occupies, and a device base that holds the bus for a whole measurement.

On a Pi, bus 1 is the header's GPIO 2 (SDA, pin 3) and GPIO 3 (SCL, pin 5); bus 0 is
GPIO 0 and 1 (pins 27 and 28, meant for HAT EEPROMs). Other buses (the i2c-gpio overlay)
have pins the config does not know, so they claim none.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.drivers.base import POLLED_OPTIONS, Claim, Value
from gateway.drivers.options import Option

if TYPE_CHECKING:
    from gateway.config.model import SensorConfig

#: bus number -> (SDA, SCL) GPIO numbers
BUS_PINS = {0: (0, 1), 1: (2, 3)}


def address_option(addresses: Sequence[int], what: str) -> Option:
    """The ``address`` option of a chip that answers at ``addresses`` only."""
    allowed = " or ".join(f"0x{a:02x}" for a in addresses)

    def problem(value: int) -> str | None:
        if value in addresses:
            return None
        return f"{what} chips answer at {allowed} only, not 0x{value:02x}"

    return Option(int, addresses[0], f"I2C address: {allowed} (set by the board's "
                  f"address pin)", check=problem)


BUS_OPTION = Option(int, 1, "I2C bus, /dev/i2c-N: 1 is GPIO 2 (SDA) and GPIO 3 (SCL)",
                    minimum=0, maximum=63)


def i2c_options(addresses: Sequence[int], what: str) -> dict[str, Option]:
    """The options every polled I2C chip takes: the polled ones, ``bus`` and ``address``."""
    return {**POLLED_OPTIONS, "bus": BUS_OPTION, "address": address_option(addresses, what)}


def i2c_claims(sensor: SensorConfig) -> list[Claim]:
    """The chip's address on its bus, and the bus's pins shared with other I2C chips."""
    bus, address = sensor.options["bus"], sensor.options["address"]
    claims = [Claim("bus", f"GPIO {pin}", share=f"i2c-{bus}", role=f"I2C bus {bus} {line}")
              for pin, line in zip(BUS_PINS.get(bus, ()), ("SDA", "SCL"), strict=False)]
    claims.append(Claim("address", f"I2C bus {bus} address 0x{address:02x}"))
    return claims


def as_values(**values: float | None) -> dict[str, Value]:
    """The readings that came back (a library may return None for a disabled value)."""
    return {k: float(v) for k, v in values.items() if v is not None}


def linux_i2c(number: int) -> Any:
    """Blinka's busio.I2C on /dev/i2c-<number>, what the Adafruit libraries take.

    busio.I2C picks its bus from the board's SCL/SDA pins; this sets the bus by number the
    way adafruit-extended-bus does (that package ships no wheel for the image's wheelhouse).
    """
    import busio
    from adafruit_blinka.microcontroller.generic_linux.i2c import I2C as LinuxI2C

    device = Path(f"/dev/i2c-{number}")
    if not device.exists():
        raise FileNotFoundError(errno.ENOENT, "no such I2C bus (is I2C enabled?)", str(device))

    class NumberedI2C(busio.I2C):  # type: ignore[misc]
        def __init__(self) -> None:  # busio's own __init__ wants pins
            self._i2c = LinuxI2C(number, mode=LinuxI2C.MASTER)

    return NumberedI2C()
