"""Filters: each one alone, their order, heartbeat, and payload formatting."""

from __future__ import annotations

from gateway.config.model import Filters
from gateway.filters import FilterChain, format_value


def run(chain: FilterChain, values: list[tuple[float, float]]) -> list[float | None]:
    return [chain.feed(v, t) for t, v in values]


def test_no_filters_pass_everything() -> None:
    assert run(FilterChain(Filters()), [(0, 1.0), (1, 1.0), (2, 2.0)]) == [1.0, 1.0, 2.0]


def test_multiply_then_offset() -> None:
    chain = FilterChain(Filters(multiply=1.8, offset=32.0))
    assert chain.feed(20.0, 0) == 68.0


def test_median_over_window_drops_a_spike() -> None:
    chain = FilterChain(Filters(median=3))
    assert run(chain, [(0, 20.0), (1, 20.2), (2, 80.0), (3, 20.4)]) == [20.0, 20.1, 20.2, 20.4]


def test_throttle_limits_the_rate() -> None:
    chain = FilterChain(Filters(throttle=10))
    assert run(chain, [(0, 1.0), (5, 2.0), (10, 3.0), (12, 4.0)]) == [1.0, None, 3.0, None]


def test_delta_publishes_only_larger_changes() -> None:
    chain = FilterChain(Filters(delta=0.5))
    out = run(chain, [(0, 20.0), (1, 20.3), (2, 20.5), (3, 20.6), (4, 19.9)])
    assert out == [20.0, None, None, 20.6, 19.9]


def test_heartbeat_republishes_the_latest_value_held_back() -> None:
    chain = FilterChain(Filters(delta=1.0, heartbeat=60))
    assert chain.feed(20.0, 0) == 20.0
    assert chain.feed(20.2, 30) is None
    assert chain.heartbeat(59) is None
    assert chain.heartbeat(60) == 20.2
    assert chain.feed(20.3, 70) is None          # the heartbeat counts as a publish
    assert chain.feed(20.4, 120) == 20.4         # due again: published despite delta


def test_offset_is_applied_before_median_and_delta() -> None:
    chain = FilterChain(Filters(offset=-1.0, median=3, delta=0.2))
    out = run(chain, [(0, 21.0), (1, 21.1), (2, 21.5), (3, 21.6)])
    # medians: 20.0, 20.05, 20.1, 20.5; only the first and the last move more than 0.2
    assert out == [20.0, None, None, 20.5]


def test_on_off_channels_publish_changes_only() -> None:
    chain = FilterChain(Filters(), changes_only=True)
    assert [chain.feed(v, t) for t, v in [(0, False), (1, False), (2, True), (3, True)]] == \
        [False, None, True, None]


def test_format_value() -> None:
    assert format_value(21.44, 1) == "21.4"
    assert format_value(-0.04, 1) == "0.0"
    assert format_value(47.0, 0) == "47"
    assert format_value(0.125, None) == "0.125"
    assert format_value(True, None) == "ON" and format_value(False, 2) == "OFF"
