"""A simulated I2C bus: the object the Adafruit libraries talk to, with chips behind it.

:class:`SimulatedI2C` has the methods of ``busio.I2C`` that the libraries call (try_lock,
writeto, readfrom_into, writeto_then_readfrom, scan), so the library, our driver, the
runtime's retries and availability all run unchanged; only the wire is simulated. A chip
that does not answer raises what Linux's I2C driver raises: ``OSError(EREMOTEIO)`` for a
NACK and ``OSError(ETIMEDOUT)`` for a bus that is held low.
"""

from __future__ import annotations

import errno
import math
import random
import threading
import time
from collections.abc import Callable


class Fault:
    """What a simulated chip does wrong right now (tests set these)."""

    NONE = ""
    NACK = "nack"          # no acknowledge: unplugged, wrong address
    TIMEOUT = "timeout"    # the bus stays low: a chip hanging on SDA, a long cable
    HANG = "hang"          # the transfer blocks until ``release`` is set (a stuck driver)


class SimulatedChip:
    """One device on the bus: bytes written to it and bytes read from it."""

    def __init__(self) -> None:
        self.fault = Fault.NONE
        self.release = threading.Event()

    def write(self, data: bytes) -> None:
        """Bytes the master wrote in one transfer."""

    def read(self, length: int) -> bytes:
        """``length`` bytes for the master."""
        return bytes(length)


class RegisterChip(SimulatedChip):
    """A chip with 8-bit registers: the first byte written sets the pointer, further bytes
    are written from there on; reads go on from the pointer."""

    def __init__(self) -> None:
        super().__init__()
        self.registers = bytearray(256)
        self.pointer = 0

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.pointer = data[0]
        for offset, value in enumerate(data[1:]):
            self.write_register((self.pointer + offset) & 0xFF, value)

    def read(self, length: int) -> bytes:
        self.before_read(self.pointer)
        out = bytes(self.registers[(self.pointer + i) & 0xFF] for i in range(length))
        self.pointer = (self.pointer + length) & 0xFF
        return out

    def write_register(self, register: int, value: int) -> None:
        """Store ``value``; chips override to act on control registers."""
        self.registers[register] = value

    def before_read(self, register: int) -> None:  # noqa: B027 - optional hook
        """Called before a read starting at ``register``."""


class SimulatedI2C:
    """A bus with chips by 7-bit address; the ``busio.I2C`` interface."""

    def __init__(self, number: int = 1) -> None:
        self.number = number
        self.chips: dict[int, SimulatedChip] = {}
        self._lock = threading.Lock()

    def attach(self, address: int, chip: SimulatedChip) -> SimulatedChip:
        """Wire ``chip`` at ``address``."""
        self.chips[address] = chip
        return chip

    def try_lock(self) -> bool:
        return self._lock.acquire(blocking=False)

    def unlock(self) -> None:
        self._lock.release()

    def scan(self) -> list[int]:
        return sorted(a for a, c in self.chips.items() if c.fault != Fault.NACK)

    def writeto(self, address: int, buffer: bytes | bytearray, *, start: int = 0,
                end: int | None = None) -> None:
        self._chip(address).write(bytes(buffer[start:end]))

    def readfrom_into(self, address: int, buffer: bytearray, *, start: int = 0,
                      end: int | None = None) -> None:
        end = len(buffer) if end is None else end
        buffer[start:end] = self._chip(address).read(end - start)

    def writeto_then_readfrom(self, address: int, buffer_out: bytes | bytearray,
                              buffer_in: bytearray, *, out_start: int = 0,
                              out_end: int | None = None, in_start: int = 0,
                              in_end: int | None = None) -> None:
        self.writeto(address, buffer_out, start=out_start, end=out_end)
        self.readfrom_into(address, buffer_in, start=in_start, end=in_end)

    def deinit(self) -> None:
        """Nothing to release."""

    def _chip(self, address: int) -> SimulatedChip:
        chip = self.chips.get(address)
        if chip is None or chip.fault == Fault.NACK:
            raise OSError(errno.EREMOTEIO, "Remote I/O error")
        if chip.fault == Fault.TIMEOUT:
            raise OSError(errno.ETIMEDOUT, "Connection timed out")
        if chip.fault == Fault.HANG:
            chip.release.wait()
        return chip


class Drift:
    """A value wandering around ``base`` over a simulated day of ``period`` seconds."""

    def __init__(self, base: float, amplitude: float, noise: float, rng: random.Random,
                 period: float = 600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.base, self.amplitude, self.noise = base, amplitude, noise
        self.period, self.clock, self.rng = period, clock, rng
        self._start = clock()
        self._phase = rng.uniform(0.0, 2 * math.pi)

    def __call__(self) -> float:
        angle = 2 * math.pi * (self.clock() - self._start) / self.period + self._phase
        return self.base + self.amplitude * math.sin(angle) + self.rng.gauss(0.0, self.noise)


def simulated_chip(kind: str, seed: int | None = None) -> SimulatedChip:
    """A plausible, drifting chip for driver ``kind`` (what the demo wires)."""
    rng = random.Random(seed)
    if kind in ("bme280", "bmp280"):
        from gateway.drivers.bme280_sim import SimulatedBme280

        return SimulatedBme280(kind, temperature=Drift(21.0, 1.5, 0.05, rng),
                               humidity=Drift(50.0, 5.0, 0.3, rng),
                               pressure=Drift(1013.0, 3.0, 0.1, rng))
    if kind == "bh1750":
        from gateway.drivers.bh1750_sim import SimulatedBh1750

        light = Drift(300.0, 280.0, 5.0, rng)
        return SimulatedBh1750(lambda: max(light(), 0.0))
    if kind == "ads1115":
        from gateway.drivers.ads1115_sim import SimulatedAds1115

        return SimulatedAds1115([Drift(1.6, 0.4, 0.005, rng), Drift(2.5, 0.8, 0.01, rng),
                                 Drift(0.8, 0.2, 0.002, rng), Drift(3.0, 0.1, 0.001, rng)])
    raise ValueError(f"no simulated I2C chip for {kind!r}")
