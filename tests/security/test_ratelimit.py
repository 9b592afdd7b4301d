"""Connections per second per address (token buckets), on a fake clock."""

from __future__ import annotations

import pytest

from broker.transports.ratelimit import ConnectionRateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_rate() -> None:
    clock = Clock()
    limiter = ConnectionRateLimiter(rate=2, burst=5, clock=clock)
    assert [limiter.allow("a") for _ in range(7)] == [True] * 5 + [False] * 2
    assert limiter.allow("b")  # other addresses have their own bucket
    clock.now += 0.5  # one token back at 2 per second
    assert limiter.allow("a") and not limiter.allow("a")
    clock.now += 100  # refills only up to the burst
    assert sum(limiter.allow("a") for _ in range(10)) == 5


def test_table_is_bounded() -> None:
    limiter = ConnectionRateLimiter(rate=1, burst=1, max_addresses=50, clock=Clock())
    for i in range(500):
        limiter.allow(f"10.0.{i // 250}.{i % 250}")
    assert len(limiter) == 50


def test_bad_settings() -> None:
    with pytest.raises(ValueError):
        ConnectionRateLimiter(rate=0)
    with pytest.raises(ValueError):
        ConnectionRateLimiter(burst=0)
