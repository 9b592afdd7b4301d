"""A simulated ROHM BH1750 ambient light sensor: one-byte instructions, two-byte results.

The chip has no registers: the master writes an instruction (power on, reset, a
measurement mode) and reads the latest 16-bit count, lux * 1.2 (* 2 in H-resolution
mode 2), saturating at 65535 in bright sunlight."""

from __future__ import annotations

from collections.abc import Callable

from gateway.drivers.i2c_sim import SimulatedChip

POWER_DOWN, POWER_ON, RESET = 0x00, 0x01, 0x07
_MODE2 = {0x11, 0x21}   # H-resolution mode 2: 0.5 lx per count


class SimulatedBh1750(SimulatedChip):
    """``lux`` gives the true illuminance."""

    def __init__(self, lux: Callable[[], float]) -> None:
        super().__init__()
        self.lux = lux
        self.instruction = POWER_DOWN

    def write(self, data: bytes) -> None:
        for byte in data:
            if byte != RESET:
                self.instruction = byte

    def read(self, length: int) -> bytes:
        if self.instruction == POWER_DOWN:
            return bytes(length)
        counts = self.lux() * 1.2 * (2 if self.instruction in _MODE2 else 1)
        return min(max(round(counts), 0), 0xFFFF).to_bytes(2, "big")[:length]
