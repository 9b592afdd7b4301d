"""Connections per second per client address: a token bucket for each address.

A listener asks :meth:`ConnectionRateLimiter.allow` when a connection arrives and closes it
at once when the answer is no, before any MQTT state exists for it. One address (a
misbehaving node in a reconnect loop, or someone hammering the port) then cannot crowd out
the others; its connections beyond ``burst`` are refused until tokens refill at ``rate``
per second. The table of addresses is bounded (least recently seen evicted first).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class ConnectionRateLimiter:
    """Token buckets keyed by address; the clock is injectable for tests."""

    def __init__(
        self,
        rate: float = 10.0,
        burst: int = 50,
        *,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.max_addresses = max_addresses
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, time

    def allow(self, address: str) -> bool:
        """Take a token for a new connection from ``address``; False when none is left."""
        now = self._clock()
        tokens, then = self._buckets.pop(address, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[address] = (tokens, now)  # re-inserted: most recently seen last
        if len(self._buckets) > self.max_addresses:
            self._buckets.popitem(last=False)
        return allowed

    def __len__(self) -> int:
        return len(self._buckets)
