"""DHT11, DHT22 / AM2302 and DHT21 / AM2301 temperature and humidity sensors.

The hardware sits behind :class:`DhtBackend` (``measure() -> (temperature, humidity)``):
:class:`AdafruitDht` wraps adafruit-circuitpython-dht on a Pi, and the simulated backend
stands in elsewhere. The retry loop, the 2 s read spacing, plausibility, filters and
availability are the runtime's and :class:`DhtSensor`'s, the same for both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from gateway.drivers.base import (
    POLLED_OPTIONS,
    Channel,
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

#: kind -> (lowest, highest) temperature the part can report, from the datasheets
TEMPERATURE_RANGE = {
    "dht11": (-20.0, 60.0),
    "dht22": (-40.0, 80.0),
    "am2302": (-40.0, 80.0),
    "dht21": (-40.0, 80.0),
    "am2301": (-40.0, 80.0),
}

# The sensor cannot be read more often; faster reads return stale data or fail.
MIN_READ_SPACING = 2.0


class DhtBackend(Protocol):
    """The hardware seam: one measurement, or RuntimeError."""

    def measure(self) -> tuple[float | None, float | None]:
        """(temperature in degC, relative humidity in %); raise RuntimeError on failure."""
        ...

    def close(self) -> None:
        """Release the pin."""
        ...


class AdafruitDht:
    """adafruit-circuitpython-dht on a real GPIO pin (needs a Raspberry Pi)."""

    def __init__(self, kind: str, pin: int, use_pulseio: bool = True) -> None:
        import adafruit_dht
        import board

        classes = {"dht11": adafruit_dht.DHT11, "dht22": adafruit_dht.DHT22,
                   "am2302": adafruit_dht.DHT22, "dht21": adafruit_dht.DHT21,
                   "am2301": adafruit_dht.DHT21}
        self._device = classes[kind](getattr(board, f"D{pin}"), use_pulseio=use_pulseio)

    def measure(self) -> tuple[float | None, float | None]:
        self._device.measure()
        # Both properties return what measure() just read (the library caches for 2 s).
        return self._device.temperature, self._device.humidity

    def close(self) -> None:
        self._device.exit()


def implausible_reading(kind: str, values: Mapping[str, Value],
                        previous: Mapping[str, Value] | None, elapsed: float,
                        max_rates: Mapping[str, float]) -> str | None:
    """Why a DHT reading cannot be true, or None.

    Rejected: humidity outside 0-100 %, temperature outside the part's range, the
    garbage frames these sensors are known to return (all zeros; 1 % with 0.1 or 1 degC),
    and changes faster than ``max_rates`` (unit per minute) since the last good reading.
    """
    temperature = float(values["temperature"])
    humidity = float(values["humidity"])
    low, high = TEMPERATURE_RANGE[kind]
    if not 0.0 <= humidity <= 100.0:
        return f"humidity {humidity:g} % outside 0-100"
    if not low <= temperature <= high:
        return f"temperature {temperature:g} degC outside {low:g}..{high:g}"
    if temperature == 0.0 and humidity == 0.0:
        return "all-zero frame"
    if humidity == 1.0 and temperature in (0.1, 1.0):
        return f"known garbage pattern {temperature:g} degC / 1 %"
    if previous is not None:
        # Allow at least one minute's worth of change so a fast interval is not stricter.
        minutes = max(elapsed / 60.0, 1.0)
        for key, rate in max_rates.items():
            change = abs(float(values[key]) - float(previous[key]))
            if change > rate * minutes:
                return f"{key} jumped by {change:g} in {elapsed:.0f} s"
    return None


class DhtSensor(PolledDevice):
    """One DHT sensor: temperature and humidity channels."""

    min_interval = MIN_READ_SPACING

    def __init__(self, kind: str, backend: DhtBackend, max_rates: Mapping[str, float]) -> None:
        super().__init__(dht_channels(kind))
        self.kind = kind
        self.backend = backend
        self.max_rates = dict(max_rates)

    def read(self) -> dict[str, Value]:
        temperature, humidity = self.backend.measure()
        if temperature is None or humidity is None:
            raise ReadError("sensor returned no data")
        return {"temperature": float(temperature), "humidity": float(humidity)}

    def implausible(self, values: Mapping[str, Value], previous: Mapping[str, Value] | None,
                    elapsed: float) -> str | None:
        return implausible_reading(self.kind, values, previous, elapsed, self.max_rates)

    def close(self) -> None:
        self.backend.close()


def dht_channels(kind: str) -> list[Channel]:
    """Temperature and humidity; the DHT11 reports whole numbers."""
    precision = 0 if kind == "dht11" else 1
    return [
        Channel("temperature", "sensor", unit="°C", device_class="temperature",
                state_class="measurement", precision=precision),
        Channel("humidity", "sensor", unit="%", device_class="humidity",
                state_class="measurement", precision=precision),
    ]


def _build(sensor: SensorConfig, hardware: Hardware) -> DhtSensor:
    options: Mapping[str, Any] = sensor.options
    assert sensor.pin is not None  # the validator requires a pin
    backend = hardware.dht_backend(sensor.driver, sensor.pin, options["use_pulseio"])
    rates = {"temperature": options["max_temperature_rate"],
             "humidity": options["max_humidity_rate"]}
    return DhtSensor(sensor.driver, backend, rates)


SPEC = register(DriverSpec(
    kinds=tuple(TEMPERATURE_RANGE),
    summary="DHT11 / DHT22 / AM2302 / DHT21 temperature and humidity",
    build=_build,
    channels=dht_channels,
    interval=(30.0, MIN_READ_SPACING),
    options={
        **POLLED_OPTIONS,
        "use_pulseio": Option(bool, True, "read through the kernel's pulse timing helper; "
                              "false bit-bangs (more checksum errors, no helper process)"),
        "max_temperature_rate": Option(float, 5.0, "reject temperature changes faster than "
                                       "this many degC per minute", minimum=0.1),
        "max_humidity_rate": Option(float, 20.0, "reject humidity changes faster than this "
                                    "many % per minute", minimum=0.1),
    },
))
