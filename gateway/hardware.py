"""Which hardware the drivers talk to: the Pi's GPIO, or a simulation of it.

The choice is made once, here, so drivers never ask "am I on a Pi?": they get a gpiozero
pin factory (real, or gpiozero's MockFactory) and a factory for DHT backends (the adafruit
library, or :class:`gateway.drivers.dht_sim.SimulatedDht`). Everything above that seam,
retries, plausibility, filters and availability, is the same code either way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.drivers.dht import DhtBackend

log = logging.getLogger(__name__)

_MODEL_FILE = Path("/proc/device-tree/model")

DhtFactory = Callable[[str, int], "DhtBackend"]


@dataclass
class Hardware:
    """The pin factory and DHT backend factory the drivers use.

    ``pin_factory`` None means gpiozero's own default (lgpio on a Pi 5, and so on)."""

    simulated: bool
    pin_factory: Any = None
    dht_factory: DhtFactory | None = None
    #: for a simulation: drive the mock input pins now and then so the demo shows events
    activity: bool = False
    seed: int | None = None
    _simulated_dhts: int = field(default=0, repr=False)

    def dht_backend(self, kind: str, pin: int, use_pulseio: bool) -> DhtBackend:
        """A DHT backend for ``kind`` (dht11/dht22/am2302/dht21) on GPIO ``pin``."""
        if self.dht_factory is not None:
            return self.dht_factory(kind, pin)
        if self.simulated:
            from gateway.drivers.dht_sim import SimulatedDht

            # A different but reproducible walk per sensor, so two rooms do not read alike.
            self._simulated_dhts += 1
            seed = None if self.seed is None else self.seed + self._simulated_dhts
            return SimulatedDht(kind, seed=seed)
        from gateway.drivers.dht import AdafruitDht

        return AdafruitDht(kind, pin, use_pulseio=use_pulseio)


def is_raspberry_pi(model_file: Path = _MODEL_FILE) -> bool:
    """True on a Raspberry Pi (the device tree names the board)."""
    try:
        return "raspberry pi" in model_file.read_text(errors="replace").lower()
    except OSError:
        return False


def select_hardware(mode: str, seed: int | None = None) -> Hardware:
    """``mode`` is the config's gateway.hardware: auto, real or simulated."""
    real = mode == "real" or (mode == "auto" and is_raspberry_pi())
    if real:
        return Hardware(simulated=False)
    if mode == "auto":
        log.warning("no Raspberry Pi found: running with simulated pins and sensors")
    from gpiozero.pins.mock import MockFactory

    return Hardware(simulated=True, pin_factory=MockFactory(), activity=True, seed=seed)
