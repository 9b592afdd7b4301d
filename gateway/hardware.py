"""Which hardware the drivers talk to: the Pi's GPIO, or a simulation of it.

The choice is made once, here, so drivers never ask "am I on a Pi?": they get a gpiozero
pin factory (real, or gpiozero's MockFactory with simulated wiring), a factory for DHT
backends (the adafruit library, or :class:`gateway.drivers.dht_sim.SimulatedDht`), I2C
buses (Blinka's, or :class:`gateway.drivers.i2c_sim.SimulatedI2C` with chips at the
configured addresses) and the 1-Wire sysfs directory (the kernel's, or a simulated one).
Everything above that seam, the Adafruit libraries, retries, plausibility, filters and
availability, is the same code either way.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.drivers.dht import DhtBackend
    from gateway.drivers.w1_sysfs import W1Sysfs

log = logging.getLogger(__name__)

_MODEL_FILE = Path("/proc/device-tree/model")

DhtFactory = Callable[[str, int], "DhtBackend"]


@dataclass
class I2cBus:
    """One I2C bus, shared by every chip on it. ``device`` has busio.I2C's methods; hold
    ``lock`` for a whole measurement (an ADC's configure-convert-read must not interleave
    with another sensor's transfers)."""

    number: int
    device: Any
    lock: threading.Lock = field(default_factory=threading.Lock)


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
    #: bus number -> busio.I2C-like object (tests wire their own simulated chips)
    i2c_factory: Callable[[int], Any] | None = None
    #: the 1-Wire devices directory; None: the kernel's, or a simulated one
    w1: W1Sysfs | None = None
    _simulated_dhts: int = field(default=0, repr=False)
    _i2c: dict[int, I2cBus] = field(default_factory=dict, repr=False)
    _w1_simulated_here: bool = field(default=False, repr=False)

    def _next_seed(self) -> int | None:
        self._simulated_dhts += 1
        return None if self.seed is None else self.seed + self._simulated_dhts

    def dht_backend(self, kind: str, pin: int, use_pulseio: bool) -> DhtBackend:
        """A DHT backend for ``kind`` (dht11/dht22/am2302/dht21) on GPIO ``pin``."""
        if self.dht_factory is not None:
            return self.dht_factory(kind, pin)
        if self.simulated:
            from gateway.drivers.dht_sim import SimulatedDht

            # A different but reproducible walk per sensor, so two rooms do not read alike.
            return SimulatedDht(kind, seed=self._next_seed())
        from gateway.drivers.dht import AdafruitDht

        return AdafruitDht(kind, pin, use_pulseio=use_pulseio)


    def i2c_bus(self, number: int, address: int, kind: str) -> I2cBus:
        """Bus ``number`` (/dev/i2c-N), opened once. A simulated bus this object made
        gets a simulated ``kind`` chip at ``address``."""
        bus = self._i2c.get(number)
        if bus is None:
            if self.i2c_factory is not None:
                device = self.i2c_factory(number)
            elif self.simulated:
                from gateway.drivers.i2c_sim import SimulatedI2C

                device = SimulatedI2C(number)
            else:
                from gateway.drivers.i2c import linux_i2c

                device = linux_i2c(number)
            bus = self._i2c[number] = I2cBus(number, device)
        if self.simulated and self.i2c_factory is None and address not in bus.device.chips:
            from gateway.drivers.i2c_sim import simulated_chip

            bus.device.attach(address, simulated_chip(kind, self._next_seed()))
        return bus

    def w1_bus(self, rom: str) -> W1Sysfs:
        """The 1-Wire devices directory; a simulated one this object made gets a probe
        with ROM id ``rom``."""
        if self.w1 is None:
            if self.simulated:
                from gateway.drivers.ds18b20_sim import SimulatedW1

                self.w1 = SimulatedW1()
                self._w1_simulated_here = True
            else:
                from gateway.drivers.w1_sysfs import W1Sysfs

                self.w1 = W1Sysfs()
        if self._w1_simulated_here:
            from gateway.drivers.ds18b20_sim import SimulatedProbe, SimulatedW1
            from gateway.drivers.i2c_sim import Drift

            assert isinstance(self.w1, SimulatedW1)
            if rom not in self.w1.probes_wired:
                drift = Drift(18.0, 2.0, 0.03, random.Random(self._next_seed()))
                self.w1.attach(rom, SimulatedProbe(drift))
        return self.w1

    def pwm_pin(self, pin: int) -> None:
        """Make a simulated ``pin`` PWM-capable (real pins are)."""
        from gateway.drivers.gpio_sim import WiredMockFactory

        if isinstance(self.pin_factory, WiredMockFactory) and not self.pin_factory.wired(pin):
            self.pin_factory.wire_pwm(pin)

    def distance_sensor(self, trigger: int, echo: int) -> None:
        """On simulated pins, put an HC-SR04 on ``trigger``/``echo`` (a water tank
        slowly filling and emptying), unless a test wired its own."""
        from gateway.drivers.gpio_sim import EchoTriggerPin, WiredMockFactory
        from gateway.drivers.i2c_sim import Drift

        if isinstance(self.pin_factory, WiredMockFactory) and not self.pin_factory.wired(trigger):
            level = Drift(0.8, 0.3, 0.002, random.Random(self._next_seed()))
            self.pin_factory.wire(trigger, EchoTriggerPin, echo_gpio=echo, distance=level)


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
    from gateway.drivers.gpio_sim import WiredMockFactory

    return Hardware(simulated=True, pin_factory=WiredMockFactory(), activity=True, seed=seed)
