"""Gateway health for the dashboard: broker figures from ``$SYS/broker/...`` and the few
facts of the machine that no topic carries (CPU temperature, disk space, system uptime).

Message rates are not published by the broker as such; they are the change of the
``messages/received`` and ``messages/sent`` counters between two ``$SYS`` updates.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SYS_PREFIX = "$SYS/broker/"
#: clients connected through the serial bridge (listener "serial"), when the broker says
SERIAL_CLIENTS = "listeners/serial/clients/connected"
_COUNTERS = ("messages/received", "messages/sent")


@dataclass
class _Rate:
    count: float
    at: float
    per_second: float | None = None


@dataclass
class BrokerHealth:
    """The latest ``$SYS/broker/...`` values and the message rates derived from them."""

    clock: Callable[[], float] = time.monotonic
    values: dict[str, str] = field(default_factory=dict)
    _rates: dict[str, _Rate] = field(default_factory=dict)

    def handle(self, topic: str, payload: bytes) -> bool:
        """Take one ``$SYS`` message; True when it is one the dashboard shows."""
        if not topic.startswith(SYS_PREFIX):
            return False
        key = topic[len(SYS_PREFIX):]
        text = payload.decode("utf-8", errors="replace")
        self.values[key] = text
        if key in _COUNTERS:
            self._count(key, text)
        return key in _COUNTERS or key in ("uptime", "clients/connected", SERIAL_CLIENTS)

    def _count(self, key: str, text: str) -> None:
        try:
            count = float(text)
        except ValueError:
            return
        now = self.clock()
        previous = self._rates.get(key)
        rate = _Rate(count, now)
        if previous is not None and now > previous.at and count >= previous.count:
            rate.per_second = (count - previous.count) / (now - previous.at)
        self._rates[key] = rate

    def as_json(self) -> dict[str, Any]:
        """Uptime (s), connected clients (all, and over serial) and message rates (per
        second); None where unknown."""
        return {
            "broker_uptime": _leading_number(self.values.get("uptime")),
            "clients": _leading_number(self.values.get("clients/connected")),
            "serial_clients": _leading_number(self.values.get(SERIAL_CLIENTS)),
            "received_per_s": self._per_second("messages/received"),
            "sent_per_s": self._per_second("messages/sent"),
        }

    def _per_second(self, key: str) -> float | None:
        rate = self._rates.get(key)
        return None if rate is None else rate.per_second


def machine_health(data_dir: Path, root: Path = Path("/")) -> dict[str, Any]:
    """CPU temperature (°C), system uptime (s), disk space left where the data lives."""
    # The data directory may not exist yet (a full disk kept it from being made).
    where = next((p for p in (data_dir, *data_dir.parents) if p.exists()), root)
    usage = shutil.disk_usage(where)
    return {
        "cpu_temperature": _read_number(root / "sys/class/thermal/thermal_zone0/temp", 1000.0),
        "system_uptime": _read_number(root / "proc/uptime", 1.0),
        "disk_free": usage.free,
        "disk_total": usage.total,
        "load": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def _read_number(path: Path, divisor: float) -> float | None:
    try:
        return float(path.read_text().split()[0]) / divisor
    except (OSError, ValueError, IndexError):
        return None


def _leading_number(text: str | None) -> float | None:
    """``"123 seconds"`` -> 123.0; None for missing or non-numeric text."""
    if not text:
        return None
    try:
        return float(text.split()[0])
    except ValueError:
        return None
