"""HC-SR04 ultrasonic distance sensor through gpiozero's DistanceSensor: the water level
in a tank, a car in the garage.

gpiozero pings in a background thread and keeps the median of the last pings. A sensor
that stops answering (a loose echo wire, nothing within range) would leave that median
frozen, so the driver notes when the last echo came back and fails the read when it is
older than ``echo_timeout``. The echo pin needs a voltage divider: the HC-SR04 drives 5 V.
"""

from __future__ import annotations

import contextlib
import functools
import time
from typing import TYPE_CHECKING, Any

from gateway.drivers.base import (
    POLLED_OPTIONS,
    Channel,
    Claim,
    DriverSpec,
    PolledDevice,
    ReadError,
    Value,
    register,
)
from gateway.drivers.options import Option

if TYPE_CHECKING:
    from gateway.config.model import SensorConfig
    from gateway.hardware import Hardware

CHANNEL = Channel("", "sensor", unit="cm", device_class="distance", state_class="measurement",
                  precision=1)


@functools.cache
def _distance_sensor_class() -> type:
    from gpiozero import DistanceSensor

    class TimedDistanceSensor(DistanceSensor):  # type: ignore[misc]
        """gpiozero's DistanceSensor, remembering when a ping last came back."""

        last_echo: float | None = None

        def _read(self) -> float | None:
            value = super()._read()
            if value is not None:
                self.last_echo = time.monotonic()
            return value

        def close(self) -> None:
            # gpiozero drops the trigger pin before it stops the pinging thread, which
            # then fails mid-ping; stop the thread first.
            queue = getattr(self, "_queue", None)
            if queue is not None:
                with contextlib.suppress(RuntimeError):   # never started
                    queue.stop()
            super().close()

    return TimedDistanceSensor


class HcSr04(PolledDevice):
    """Distance in centimetres from the median of recent pings."""

    def __init__(self, trigger: int, echo: int, max_distance: float, echo_timeout: float,
                 pin_factory: object = None) -> None:
        super().__init__([CHANNEL])
        import warnings

        from gpiozero import PWMSoftwareFallback

        self.echo_timeout = echo_timeout
        with warnings.catch_warnings():
            # gpiozero suggests pigpio for timing; its accuracy (about 1 cm) is enough here.
            warnings.simplefilter("ignore", PWMSoftwareFallback)
            self._sensor: Any = _distance_sensor_class()(
                echo=echo, trigger=trigger, max_distance=max_distance, partial=True,
                pin_factory=pin_factory)
        self._started = time.monotonic()

    def read(self) -> dict[str, Value]:
        last = self._sensor.last_echo
        now = time.monotonic()
        if last is None or now - last > self.echo_timeout:
            since = now - (last if last is not None else self._started)
            raise ReadError(f"no echo for {since:.1f} s (check the echo wire and the "
                            f"voltage divider)")
        return {"": round(self._sensor.distance * 100.0, 1)}

    def close(self) -> None:
        self._sensor.close()


def _claims(sensor: SensorConfig) -> list[Claim]:
    claims = [Claim("echo", f"GPIO {sensor.options['echo']}")]
    if sensor.pin is not None:
        claims.insert(0, Claim("pin", f"GPIO {sensor.pin}"))
    return claims


def _build(sensor: SensorConfig, hardware: Hardware) -> HcSr04:
    options = sensor.options
    assert sensor.pin is not None  # the validator requires a pin
    hardware.distance_sensor(sensor.pin, options["echo"])
    return HcSr04(sensor.pin, options["echo"], options["max_distance"],
                  options["echo_timeout"], hardware.pin_factory)


SPEC = register(DriverSpec(
    kinds=("hcsr04",),
    summary="HC-SR04 ultrasonic distance (cm); pin is the trigger, echo the echo",
    build=_build,
    channels=lambda kind: [CHANNEL],
    interval=(10.0, 0.5),
    claims=_claims,
    options={
        **POLLED_OPTIONS,
        "echo": Option(int, None, "GPIO of the echo pin (through a 5 V -> 3.3 V divider)",
                       required=True, minimum=0, maximum=27),
        "max_distance": Option(float, 2.0, "metres; farther reads as this (the HC-SR04 "
                               "reaches about 4 m)", minimum=0.05, maximum=4.0),
        # Bounded: a dead sensor must fail its reads, not repeat its last distance for ever.
        "echo_timeout": Option(float, 2.0, "seconds without any echo before a read fails",
                               minimum=0.2, maximum=3600),
    },
))
