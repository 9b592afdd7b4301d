"""PWM outputs through gpiozero's PWMOutputDevice: a dimmable LED strip (through a MOSFET)
or a fan, commanded with 0-100 % on home/<room>/<name>/set (and ON, OFF, TOGGLE), the level
echoed retained. Home Assistant sees ``pwm`` as a light with brightness and ``pwm_fan`` as
a fan with a percentage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.drivers.base import Channel, DriverSpec, LevelOutputDevice, register
from gateway.drivers.options import Option

if TYPE_CHECKING:
    from gateway.config.model import SensorConfig
    from gateway.hardware import Hardware

#: kind -> Home Assistant component
KINDS = {"pwm": "light", "pwm_fan": "fan"}


class PwmOutput(LevelOutputDevice):
    """A PWMOutputDevice, off at construction. ``min_duty``: the lowest non-zero duty
    cycle in percent (a fan stalls below it, an LED driver flickers)."""

    def __init__(self, channel: Channel, pin: int, active_high: bool, frequency: float,
                 min_duty: float = 0.0, boot_state: str = "off",
                 pin_factory: object = None) -> None:
        from gpiozero import PWMOutputDevice

        super().__init__(channel, boot_state)
        self.min_duty = min_duty
        self._level = 0.0
        self._device = PWMOutputDevice(pin, active_high=active_high, initial_value=0,
                                       frequency=frequency, pin_factory=pin_factory)

    def set_level(self, percent: float) -> None:
        percent = min(max(percent, 0.0), 100.0)
        duty = 0.0 if percent == 0 else self.min_duty + percent * (100.0 - self.min_duty) / 100
        self._device.value = duty / 100.0
        self._level = percent

    def level(self) -> float:
        return self._level

    def close(self) -> None:
        self._device.close()


def _channels(kind: str) -> list[Channel]:
    return [Channel("", KINDS[kind], precision=0, level=True)]


def _build(sensor: SensorConfig, hardware: Hardware) -> PwmOutput:
    options = sensor.options
    assert sensor.pin is not None  # the validator requires a pin
    hardware.pwm_pin(sensor.pin)
    return PwmOutput(_channels(sensor.driver)[0], sensor.pin, options["active"] == "high",
                     options["frequency"], options["min_duty"], options["boot_state"],
                     hardware.pin_factory)


SPEC = register(DriverSpec(
    kinds=tuple(KINDS),
    summary="PWM output 0-100 %: pwm (dimmable light), pwm_fan (fan)",
    build=_build,
    channels=_channels,
    options={
        "active": Option(str, "high", "level that powers the load", choices=("high", "low")),
        "frequency": Option(float, 100.0, "PWM frequency in Hz (software PWM: keep it "
                            "below 1000)", minimum=1.0, maximum=10000.0),
        "min_duty": Option(float, 0.0, "duty cycle in % that 1 % maps to (fans stall "
                           "below about 20-30 %)", minimum=0.0, maximum=99.0),
        "boot_state": Option(str, "off", "level at start: off, on (100 %), or restore "
                             "(the last published level)", choices=("off", "on", "restore")),
    },
))
