"""The backoff for wrong passwords (per address, per user, shared), on a fake clock."""

from __future__ import annotations

import pytest
from support.clock import FakeClock

from broker.auth.backoff import USER_FREE_FAILURES, LoginBackoff, LoginGuard, address_key


def make(**kw) -> tuple[LoginBackoff, FakeClock]:
    clock = FakeClock()
    return LoginBackoff(clock=clock, **kw), clock


def test_waits_double_after_free_failures_up_to_max() -> None:
    backoff, clock = make(free_failures=2, base_delay=1.0, max_delay=8.0)
    waits = []
    for _ in range(8):
        clock.now += 100  # attempts spaced out so each one is allowed
        assert not backoff.is_blocked("10.0.0.1")
        waits.append(backoff.record_failure("10.0.0.1"))
    assert waits == [0, 0, 1, 2, 4, 8, 8, 8]


def test_after_three_wrong_passwords_the_fourth_attempt_waits() -> None:
    """What the README promises, with the defaults the broker and dashboard use."""
    backoff, clock = make()
    for _ in range(3):
        assert not backoff.is_blocked("10.0.0.1")
        backoff.record_failure("10.0.0.1")
    assert backoff.wait_remaining("10.0.0.1") == pytest.approx(1.0)
    clock.now += 1.01
    assert not backoff.is_blocked("10.0.0.1")


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



def guard() -> tuple[LoginGuard, FakeClock]:
    clock = FakeClock()
    return LoginGuard(LoginBackoff(clock=clock)), clock


def test_guard_counts_parallel_attempts_before_their_answers() -> None:
    """Checks run off the loop: three attempts in flight use up the free ones, so the
    fourth sent at the same moment is refused unchecked, not checked in parallel."""
    g, _ = guard()
    assert [g.begin("10.0.0.1", "alice") for _ in range(4)] == [True, True, True, False]


def test_guard_success_clears_the_address_and_only_its_own_count_of_the_user() -> None:
    g, _ = guard()
    g.begin("10.0.0.1", "alice")
    g.begin("10.0.0.1", "alice")  # wrong
    g.begin("10.0.0.1", "alice")  # right:
    g.succeeded("10.0.0.1", "alice")
    assert len(g.addresses) == 0
    assert g.users._records["alice"].failures == 2  # the two wrong ones stay counted
    for _ in range(50):  # many right logins never add up to a wait
        assert g.begin("10.0.0.2", "bob")
        g.succeeded("10.0.0.2", "bob")
    assert g.wait_remaining("10.0.0.3", "bob") == 0


def test_a_guessed_user_still_gets_in_from_an_address_it_used_before() -> None:
    g, clock = guard()
    assert g.begin("10.0.0.7", "alice")
    g.succeeded("10.0.0.7", "alice")  # alice's phone
    for i in range(40):  # a stranger hopping addresses
        clock.now += 0.01
        g.begin(f"10.0.1.{i}", "alice")
    assert g.wait_remaining("10.0.2.1", "alice") > 0  # a new address waits for alice
    assert g.wait_remaining("10.0.0.7", "alice") == 0  # her phone does not
    assert g.begin("10.0.0.7", "alice")


def test_guard_slows_many_addresses_guessing_one_user() -> None:
    """Each address stays under its own limit; the user's table stops the spray."""
    g, clock = guard()
    tried = 0
    for i in range(40):
        clock.now += 0.01
        if g.begin(f"10.0.1.{i}", "alice"):
            tried += 1
    assert tried == USER_FREE_FAILURES + 1
    assert g.wait_remaining("10.0.2.1", "alice") > 0  # a fresh address waits for alice
    assert g.wait_remaining("10.0.2.1", "bob") == 0   # and not for anyone else


def test_address_keys_count_an_ipv4_client_once_however_the_socket_shows_it() -> None:
    assert address_key("198.18.0.2") == address_key("::ffff:198.18.0.2") == "198.18.0.2"
    assert address_key("2001:db8::5") == address_key("2001:DB8:0::5") != address_key("2001:db8::6")
    assert address_key("fe80::1%eth0") == "fe80::1"
    assert address_key("serial:/dev/ttyUSB0") == "serial:/dev/ttyUSB0"
    g, _ = guard()
    for _ in range(3):
        g.begin("::ffff:198.18.0.2", "someone")  # the dashboard on a dual-stack socket
    assert g.wait_remaining("198.18.0.2", "else") > 0  # a broker listener on 0.0.0.0
