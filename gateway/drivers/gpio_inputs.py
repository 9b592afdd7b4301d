"""Binary GPIO inputs through gpiozero: button, door/window contact, PIR motion, generic.

Wiring options are the same for all of them: ``pull`` (the Pi's internal resistor),
``active`` (which level means "on"), ``debounce`` (seconds the level must hold before it is
published; done by the runtime so it behaves the same on every pin factory) and
``invert``. A contact publishes ON when it is *open*, as Home Assistant's door and window
classes expect; the reed switch itself is closed (active) when the door is shut.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from gateway.drivers.base import Channel, DriverSpec, InputDevice, register
from gateway.drivers.options import Option

if TYPE_CHECKING:
    from gateway.config.model import SensorConfig
    from gateway.hardware import Hardware

#: kind -> (Home Assistant device class, default pull, default debounce in seconds)
KINDS: dict[str, tuple[str | None, str, float]] = {
    "button": (None, "up", 0.05),
    "contact": ("door", "up", 0.1),
    "motion": ("motion", "down", 0.0),
    "binary": (None, "up", 0.05),
}


class GpioInput(InputDevice):
    """A gpiozero DigitalInputDevice with our active/invert rules."""

    def __init__(self, channel: Channel, pin: int, pull: str, active: str, invert: bool,
                 debounce: float = 0.0, pin_factory: object = None) -> None:
        from gpiozero import DigitalInputDevice

        super().__init__(channel, debounce)
        # gpiozero fixes the active level when a pull resistor is used (pull-up means
        # active low); any other combination is an inversion on our side.
        if pull == "none":
            self._device = DigitalInputDevice(pin, pull_up=None, active_state=active == "high",
                                              pin_factory=pin_factory)
            natural = active
        else:
            self._device = DigitalInputDevice(pin, pull_up=pull == "up",
                                              pin_factory=pin_factory)
            natural = "low" if pull == "up" else "high"
        self._invert = invert != (natural != active)

    def start(self, on_change: Callable[[], None]) -> None:
        self._device.when_activated = on_change
        self._device.when_deactivated = on_change

    def is_active(self) -> bool:
        return bool(self._device.is_active) != self._invert

    def close(self) -> None:
        self._device.close()


def _channels(kind: str) -> list[Channel]:
    return [Channel("", "binary_sensor", device_class=KINDS[kind][0])]


def _build(sensor: SensorConfig, hardware: Hardware) -> GpioInput:
    options = sensor.options
    pull = options["pull"] or KINDS[sensor.driver][1]
    active = options["active"] or ("low" if pull == "up" else "high")
    # Contacts report "open" as ON: the switch is active (closed) when the door is shut.
    invert = options["invert"] != (sensor.driver == "contact")
    debounce = options["debounce"]
    if debounce is None:
        debounce = KINDS[sensor.driver][2]
    assert sensor.pin is not None  # the validator requires a pin
    return GpioInput(_channels(sensor.driver)[0], sensor.pin, pull, active, invert,
                     debounce, hardware.pin_factory)


SPEC = register(DriverSpec(
    kinds=tuple(KINDS),
    summary="binary inputs: button, door/window contact, PIR motion, generic",
    build=_build,
    channels=_channels,
    options={
        "pull": Option(str, None, "internal resistor: up, down or none; default up "
                       "(motion: down)", choices=("up", "down", "none")),
        "active": Option(str, None, "level that means ON: low or high; default low with "
                         "pull-up, high otherwise", choices=("low", "high")),
        "debounce": Option(float, None, "seconds the level must hold before it counts; "
                           "default 0.05 (contact 0.1, motion 0)", minimum=0, maximum=10),
        "invert": Option(bool, False, "publish the opposite state"),
    },
))
