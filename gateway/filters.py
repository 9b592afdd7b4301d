"""Per-channel filters: pure functions of (value, time), no I/O.

Order: multiply, offset, median (value transforms), then throttle and delta (publish
gates). Heartbeat re-publishes the latest value, even one a gate held back, when nothing
was published for ``heartbeat`` seconds.
"""

from __future__ import annotations

import statistics
from collections import deque

from gateway.config.model import Filters
from gateway.drivers.base import Value


class FilterChain:
    """The filters of one channel. ``changes_only`` gates ON/OFF channels to changes."""

    def __init__(self, filters: Filters, changes_only: bool = False) -> None:
        self.filters = filters
        self.changes_only = changes_only
        self._window: deque[float] = deque(maxlen=filters.median or 1)
        self._latest: Value | None = None
        self._emitted: Value | None = None
        self._emitted_at: float | None = None

    def feed(self, value: Value, now: float) -> Value | None:
        """The value to publish for a new reading at time ``now``, or None to publish nothing."""
        value = self._transform(value)
        self._latest = value
        if self._emitted_at is not None and self._held_back(value, now):
            return self.heartbeat(now)
        return self._emit(value, now)

    def heartbeat(self, now: float) -> Value | None:
        """The latest value if the heartbeat is due at ``now``, else None."""
        beat = self.filters.heartbeat
        if beat is None or self._latest is None or self._emitted_at is None:
            return None
        if now - self._emitted_at >= beat:
            return self._emit(self._latest, now)
        return None

    def _transform(self, value: Value) -> Value:
        if isinstance(value, bool):
            return value
        f = self.filters
        result = float(value)
        if f.multiply is not None:
            result *= f.multiply
        if f.offset is not None:
            result += f.offset
        if f.median is not None:
            self._window.append(result)
            result = statistics.median(self._window)
        return result

    def _held_back(self, value: Value, now: float) -> bool:
        f = self.filters
        assert self._emitted_at is not None
        if f.throttle is not None and now - self._emitted_at < f.throttle:
            return True
        if self.changes_only and value == self._emitted:
            return True
        if f.delta is not None and not isinstance(value, bool):
            assert self._emitted is not None
            return abs(float(value) - float(self._emitted)) <= f.delta
        return False

    def _emit(self, value: Value, now: float) -> Value:
        self._emitted = value
        self._emitted_at = now
        return value


def format_value(value: Value, precision: int | None) -> str:
    """The plain payload: ``21.4``, ``3``, ``ON`` / ``OFF``."""
    if isinstance(value, bool):
        return "ON" if value else "OFF"
    if precision is None:
        return f"{value:g}" if isinstance(value, float) else str(value)
    if precision == 0:
        return str(int(round(value)))
    text = f"{value:.{precision}f}"
    return f"{0:.{precision}f}" if float(text) == 0 else text  # "0.0", never "-0.0"
