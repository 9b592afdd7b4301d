"""The per-address backoff for wrong passwords, on a fake clock."""

from __future__ import annotations

import pytest

from broker.auth.backoff import LoginBackoff


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(**kw) -> tuple[LoginBackoff, Clock]:
    clock = Clock()
    return LoginBackoff(clock=clock, **kw), clock


def test_waits_double_after_free_failures_up_to_max() -> None:
    backoff, clock = make(free_failures=2, base_delay=1.0, max_delay=8.0)
    waits = []
    for _ in range(8):
        clock.now += 100  # attempts spaced out so each one is allowed
        assert not backoff.is_blocked("10.0.0.1")
        waits.append(backoff.record_failure("10.0.0.1"))
    assert waits == [0, 0, 1, 2, 4, 8, 8, 8]


def test_blocked_until_wait_passes_and_per_address() -> None:
    backoff, clock = make(free_failures=0, base_delay=5.0)
    backoff.record_failure("a")
    assert backoff.is_blocked("a") and not backoff.is_blocked("b")
    assert backoff.wait_remaining("a") == pytest.approx(5.0)
    clock.now += 4.9
    assert backoff.is_blocked("a")
    clock.now += 0.2
    assert not backoff.is_blocked("a")


def test_success_and_quiet_time_reset() -> None:
    backoff, clock = make(free_failures=0, forget_after=60)
    backoff.record_failure("a")
    backoff.record_success("a")
    assert not backoff.is_blocked("a") and len(backoff) == 0
    backoff.record_failure("b")
    backoff.record_failure("b")
    clock.now += 61
    assert backoff.record_failure("b") == 1.0  # counting started again


def test_table_is_bounded() -> None:
    backoff, _ = make(max_addresses=100)
    for i in range(1000):
        backoff.record_failure(f"10.0.{i // 256}.{i % 256}")
    assert len(backoff) == 100
    assert backoff.wait_remaining("10.0.0.0") == 0.0  # the oldest were evicted

