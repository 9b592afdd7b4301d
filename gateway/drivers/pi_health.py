"""The Pi itself: CPU temperature, load, memory, disk, uptime and the firmware's
under-voltage and throttling flags, each only where this machine can read it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

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

_DIAGNOSTIC = "diagnostic"

CHANNELS = [
    Channel("cpu_temperature", "sensor", unit="°C", device_class="temperature",
            state_class="measurement", precision=1, entity_category=_DIAGNOSTIC),
    Channel("load", "sensor", state_class="measurement", precision=2,
            entity_category=_DIAGNOSTIC, icon="mdi:gauge"),
    Channel("memory_used", "sensor", unit="%", state_class="measurement", precision=1,
            entity_category=_DIAGNOSTIC, icon="mdi:memory"),
    Channel("disk_used", "sensor", unit="%", state_class="measurement", precision=1,
            entity_category=_DIAGNOSTIC, icon="mdi:harddisk"),
    Channel("uptime", "sensor", unit="s", device_class="duration",
            state_class="total_increasing", precision=0, entity_category=_DIAGNOSTIC),
    Channel("undervoltage", "binary_sensor", device_class="problem",
            entity_category=_DIAGNOSTIC),
    Channel("throttled", "binary_sensor", device_class="problem", entity_category=_DIAGNOSTIC),
]

# Bits of the firmware's get_throttled word that describe "now" (the high bits say
# "has happened since boot").
UNDERVOLTAGE_NOW = 1 << 0
THROTTLED_NOW = 1 << 2


class PiHealth(PolledDevice):
    """Reads /proc and /sys under ``root`` (``/`` on a real system)."""

    def __init__(self, root: Path = Path("/"), disk_path: str = "/") -> None:
        self.root = root
        self.disk_path = disk_path
        self._readers: dict[str, Callable[[], Value | None]] = {
            "cpu_temperature": self._cpu_temperature,
            "load": self._load,
            "memory_used": self._memory_used,
            "disk_used": self._disk_used,
            "uptime": self._uptime,
            "undervoltage": lambda: self._throttle_bit(UNDERVOLTAGE_NOW),
            "throttled": lambda: self._throttle_bit(THROTTLED_NOW),
        }
        # Offer only what this machine has: a laptop has no throttling flags.
        super().__init__([c for c in CHANNELS if self._try(c.key) is not None])

    def _try(self, key: str) -> Value | None:
        try:
            return self._readers[key]()
        except (OSError, ValueError, IndexError):
            return None

    def read(self) -> dict[str, Value]:
        values = {}
        for channel in self.channels:
            value = self._try(channel.key)
            if value is not None:
                values[channel.key] = value
        if not values:
            raise ReadError("no system value readable")
        return values

    def _path(self, relative: str) -> Path:
        return self.root / relative

    def _cpu_temperature(self) -> float | None:
        text = self._path("sys/class/thermal/thermal_zone0/temp").read_text()
        return int(text.strip()) / 1000.0

    def _load(self) -> float:
        if self.root == Path("/"):
            return os.getloadavg()[0]
        return float(self._path("proc/loadavg").read_text().split()[0])

    def _memory_used(self) -> float:
        fields = {}
        for line in self._path("proc/meminfo").read_text().splitlines():
            name, _, rest = line.partition(":")
            fields[name] = int(rest.split()[0])
        total, available = fields["MemTotal"], fields["MemAvailable"]
        return 100.0 * (total - available) / total

    def _disk_used(self) -> float:
        usage = shutil.disk_usage(self.disk_path)
        return 100.0 * usage.used / usage.total

    def _uptime(self) -> float:
        return float(self._path("proc/uptime").read_text().split()[0])

    def _throttle_bit(self, bit: int) -> bool:
        text = self._path("sys/devices/platform/soc/soc:firmware/get_throttled").read_text()
        return bool(int(text.strip(), 16) & bit)


def _channels(kind: str) -> list[Channel]:
    return list(CHANNELS)


def _build(sensor: SensorConfig, hardware: Hardware) -> PiHealth:
    return PiHealth(disk_path=sensor.options["disk"])


SPEC = register(DriverSpec(
    kinds=("pi",),
    summary="the Pi's own health: CPU temperature, load, memory, disk, uptime, throttling",
    build=_build,
    channels=_channels,
    needs_pin=False,
    interval=(60.0, 5.0),
    options={
        **POLLED_OPTIONS,
        "disk": Option(str, "/", "file system whose usage is published"),
    },
))
