"""Binary GPIO outputs through gpiozero: relay, LED, generic switch.

Commands arrive on home/<room>/<name>/set; the runtime applies them and echoes the state
retained. At boot the output is set to ``boot_state``: off (the default), on, or restore
(the last state the gateway published, read back from the broker's retained message).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.drivers.base import Channel, DriverSpec, OutputDevice, register
from gateway.drivers.options import Option

if TYPE_CHECKING:
    from gateway.config.model import SensorConfig
    from gateway.hardware import Hardware

#: kind -> Home Assistant component
KINDS = {"relay": "switch", "switch": "switch", "led": "light"}


class GpioOutput(OutputDevice):
    """A gpiozero DigitalOutputDevice, off at construction."""

    def __init__(self, channel: Channel, pin: int, active_high: bool,
                 boot_state: str = "off", pin_factory: object = None) -> None:
        from gpiozero import DigitalOutputDevice

        super().__init__(channel, boot_state)
        self._device = DigitalOutputDevice(pin, active_high=active_high, initial_value=False,
                                           pin_factory=pin_factory)

    def set(self, on: bool) -> None:
        if on:
            self._device.on()
        else:
            self._device.off()

    def is_on(self) -> bool:
        return bool(self._device.is_active)

    def close(self) -> None:
        self._device.close()


def _channels(kind: str) -> list[Channel]:
    return [Channel("", KINDS[kind])]


def _build(sensor: SensorConfig, hardware: Hardware) -> GpioOutput:
    assert sensor.pin is not None  # the validator requires a pin
    return GpioOutput(_channels(sensor.driver)[0], sensor.pin,
                      sensor.options["active"] == "high", sensor.options["boot_state"],
                      hardware.pin_factory)


SPEC = register(DriverSpec(
    kinds=tuple(KINDS),
    summary="binary outputs: relay, LED, generic switch",
    build=_build,
    channels=_channels,
    options={
        "active": Option(str, "high", "level that switches the load on; many relay boards "
                         "are active low", choices=("high", "low")),
        "boot_state": Option(str, "off", "state at start: off, on, or restore (the last "
                             "published state)", choices=("off", "on", "restore")),
    },
))
