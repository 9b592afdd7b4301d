"""A DHT that is not there: plausible, slowly changing readings and the same failures a
real sensor on a long cable shows, so the retry and availability code is exercised on
any machine."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

# The messages adafruit-circuitpython-dht raises, so logs look the same as on a Pi.
LIBRARY_ERRORS = (
    "Checksum did not validate. Try again.",
    "A full buffer was not returned. Try again.",
    "DHT sensor not found, check wiring",
)

# Frames a real sensor returns on a bad read that still passes the checksum.
GARBAGE_FRAMES = ((0.0, 0.0), (1.0, 1.0), (25.5, 6553.5), (-3276.7, 50.0))


class SimulatedDht:
    """Drifting temperature and humidity with noise, library errors and garbage frames.

    ``period`` is the length of one simulated day in seconds (short, so a demo moves)."""

    def __init__(self, kind: str, seed: int | None = None, error_rate: float = 0.1,
                 garbage_rate: float = 0.02, period: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.kind = kind
        self._rng = random.Random(seed)
        self._clock = clock
        self._start = clock()
        self.error_rate = error_rate
        self.garbage_rate = garbage_rate
        self.period = period
        self._base_temperature = self._rng.uniform(19.0, 23.0)
        self._base_humidity = self._rng.uniform(40.0, 55.0)
        self._phase = self._rng.uniform(0.0, 2 * math.pi)
        self.closed = False

    def measure(self) -> tuple[float | None, float | None]:
        roll = self._rng.random()
        if roll < self.error_rate:
            raise RuntimeError(self._rng.choice(LIBRARY_ERRORS))
        if roll < self.error_rate + self.garbage_rate:
            return self._rng.choice(GARBAGE_FRAMES)
        angle = 2 * math.pi * (self._clock() - self._start) / self.period + self._phase
        temperature = self._base_temperature + 1.5 * math.sin(angle) + self._rng.gauss(0, 0.1)
        # Relative humidity falls as the air warms.
        humidity = self._base_humidity - 5.0 * math.sin(angle) + self._rng.gauss(0, 0.5)
        digits = 0 if self.kind == "dht11" else 1
        return round(temperature, digits), round(min(max(humidity, 0.0), 100.0), digits)

    def close(self) -> None:
        self.closed = True
