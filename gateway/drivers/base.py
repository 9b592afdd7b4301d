"""The driver interface: what a sensor or actuator must provide, and the registry.

A driver is one module that declares a :class:`DriverSpec` with :func:`register`. The spec
says which config names select it, which options it takes and which channels (values) it
produces, and builds a device object of one of three shapes:

* :class:`PolledDevice`: read on a timer (DHT, the Pi's health); ``read()`` blocks and runs
  in a worker thread; the runtime does retries, plausibility, filters and availability.
* :class:`InputDevice`: a binary input that reports changes (button, PIR, contact).
* :class:`OutputDevice`: a binary output commanded over MQTT (relay, LED).
* :class:`LevelOutputDevice`: an output set to 0-100 % over MQTT (PWM dimmer, fan).

Drivers know nothing of MQTT: they return values, the runtime publishes them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.drivers.options import Option

if TYPE_CHECKING:
    from gateway.config.model import SensorConfig
    from gateway.hardware import Hardware

Value = float | int | bool


class ReadError(RuntimeError):
    """A failed read; the runtime retries. Drivers may also let RuntimeError through."""


@dataclass(frozen=True)
class Channel:
    """One value a device produces, with what Home Assistant needs to display it."""

    key: str                          # "temperature"; "" for single-channel drivers
    component: str                    # sensor | binary_sensor | switch | light | fan
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None    # "measurement" for numeric sensors
    precision: int | None = None      # decimals in the published value
    entity_category: str | None = None
    icon: str | None = None
    #: an output set to 0-100 % (light with brightness, fan with percentage), not ON/OFF
    level: bool = False

    @property
    def numeric(self) -> bool:
        """Numeric channels accept the numeric filters; the others are ON/OFF."""
        return self.component == "sensor"


class PolledDevice(ABC):
    """A sensor read on a timer."""

    #: shortest time between two hardware reads, including retries (seconds)
    min_interval: float = 0.0

    def __init__(self, channels: list[Channel]) -> None:
        self.channels = channels

    @abstractmethod
    def read(self) -> dict[str, Value]:
        """Read the hardware once (blocking) and return a value per channel key.

        Raise RuntimeError (or :class:`ReadError`) when the read failed; channels missing
        from the result are simply not published this time."""

    def implausible(self, values: Mapping[str, Value], previous: Mapping[str, Value] | None,
                    elapsed: float) -> str | None:
        """Why ``values`` cannot be true (given the last accepted values, ``elapsed``
        seconds ago), or None. Rejected reads count as failures and are retried."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook: not every device holds a resource
        """Release the hardware."""


class InputDevice(ABC):
    """A binary input; ``start`` hooks a change callback that may run on any thread.

    ``debounce``: seconds a new level must hold before the runtime publishes it."""

    def __init__(self, channel: Channel, debounce: float = 0.0) -> None:
        self.channel = channel
        self.debounce = debounce

    @abstractmethod
    def start(self, on_change: Callable[[], None]) -> None:
        """Call ``on_change()`` (from any thread) whenever the input may have changed."""

    @abstractmethod
    def is_active(self) -> bool:
        """The current state, after pull and active-high/low are taken into account."""

    def close(self) -> None:  # noqa: B027 - optional hook: not every device holds a resource
        """Release the pin."""


class OutputDevice(ABC):
    """A binary output. ``boot_state``: off, on, or restore (the last published state)."""

    def __init__(self, channel: Channel, boot_state: str = "off") -> None:
        self.channel = channel
        self.boot_state = boot_state

    @abstractmethod
    def set(self, on: bool) -> None:
        """Switch the output."""

    @abstractmethod
    def is_on(self) -> bool:
        """The current state."""

    def close(self) -> None:  # noqa: B027 - optional hook: not every device holds a resource
        """Release the pin."""


class LevelOutputDevice(ABC):
    """An output driven at 0-100 % (PWM). ``boot_state``: off, on (100 %) or restore."""

    def __init__(self, channel: Channel, boot_state: str = "off") -> None:
        self.channel = channel
        self.boot_state = boot_state

    @abstractmethod
    def set_level(self, percent: float) -> None:
        """Drive the output at ``percent`` (0-100) of full power."""

    @abstractmethod
    def level(self) -> float:
        """The current level in percent."""

    def close(self) -> None:  # noqa: B027 - optional hook: not every device holds a resource
        """Release the pin."""


Device = PolledDevice | InputDevice | OutputDevice | LevelOutputDevice


@dataclass(frozen=True)
class Claim:
    """Something a sensor occupies that no other sensor may: a GPIO, an I2C address.

    ``share``: sensors whose claims on the same ``label`` carry the same non-empty share tag
    may hold it together (DS18B20 probes on one 1-Wire pin, I2C chips on SDA/SCL)."""

    key: str        # the config key the error points at: "pin", "address", "echo"
    label: str      # what is claimed, as the error names it: "GPIO 4", "I2C bus 1 address 0x76"
    share: str = ""
    role: str = ""  # what the sensor uses it for, where the key does not say: "I2C bus 1 SDA"


def pin_claims(sensor: SensorConfig) -> list[Claim]:
    """The default: the sensor's ``pin``, for itself alone."""
    return [] if sensor.pin is None else [Claim("pin", f"GPIO {sensor.pin}")]


@dataclass(frozen=True)
class DriverSpec:
    """Everything the config validator and the runtime need to know about one driver."""

    kinds: tuple[str, ...]            # names accepted in `driver = "..."`
    summary: str
    build: Callable[[SensorConfig, Hardware], Device]
    channels: Callable[[str], list[Channel]]   # by kind; the superset a device may offer
    needs_pin: bool = True
    options: Mapping[str, Option] = field(default_factory=dict)
    interval: tuple[float, float] | None = None   # (default, minimum) for polled drivers
    claims: Callable[[SensorConfig], list[Claim]] = pin_claims

    def single_channel(self, kind: str) -> bool:
        """Single-channel drivers publish at home/<room>/<name>, the name defaulting to
        the kind (``button``, ``relay``); the others at home/<room>/<name>_<channel>."""
        return len(self.channels(kind)) == 1


_REGISTRY: dict[str, DriverSpec] = {}


def register(spec: DriverSpec) -> DriverSpec:
    """Make ``spec`` selectable by each of its kinds; a driver module calls this once."""
    for kind in spec.kinds:
        if kind in _REGISTRY:
            raise ValueError(f"driver kind {kind!r} registered twice")
        _REGISTRY[kind] = spec
    return spec


def driver_spec(kind: str) -> DriverSpec | None:
    """The spec registered for ``kind``, loading the built-in drivers on first use."""
    _load_builtin()
    return _REGISTRY.get(kind)


def driver_kinds() -> list[str]:
    """Every accepted `driver = ...` value."""
    _load_builtin()
    return sorted(_REGISTRY)


def _load_builtin() -> None:
    # Imported here, not at module top: each driver module imports this one to register.
    from gateway.drivers import (  # noqa: F401
        ads1115,
        bh1750,
        bme280,
        dht,
        ds18b20,
        gpio_inputs,
        gpio_outputs,
        hcsr04,
        pi_health,
        pwm,
    )



#: Options every polled driver takes; the runtime's poll loop reads them.
POLLED_OPTIONS: dict[str, Option] = {
    "retries": Option(int, 3, "extra attempts after a failed read, within one interval",
                      minimum=0, maximum=10),
    "retry_delay": Option(float, 2.0, "seconds between attempts", minimum=0, maximum=3600),
    "max_failures": Option(int, 3, "failed intervals in a row before the sensor is "
                           "published offline (it keeps retrying)", minimum=1),
    "read_timeout": Option(float, 10.0, "a read that takes longer counts as failed",
                           minimum=0.1, maximum=3600),
}
