"""Clocks for timer tests: the code under test reads them, the test moves them; no test
waits for real time to pass."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass


class FakeClock:
    """Callable like ``time.monotonic``; set or advance ``now`` to let time pass."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class TimerClock(FakeClock):
    """A fake clock that is also an event loop's ``call_later``: :meth:`advance` moves time
    and runs the callbacks that came due, in the order they were scheduled."""

    def __init__(self, now: float = 1000.0) -> None:
        super().__init__(now)
        self.timers: list[Timer] = []

    def call_later(self, delay: float, fn: Callable[[], None]) -> Timer:
        timer = Timer(self.now + delay, fn)
        self.timers.append(timer)
        return timer

    def advance(self, seconds: float) -> None:
        self.now += seconds
        due = [t for t in self.timers if t.when <= self.now]
        self.timers = [t for t in self.timers if t.when > self.now]
        for timer in due:
            if not timer.cancelled:
                timer.fn()


@dataclass
class Timer:
    """A callback scheduled on a :class:`TimerClock`; ``cancel`` like asyncio's handle."""

    when: float
    fn: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


class SleepClock:
    """The gateway runners' clock (``now()`` and ``sleep()``): sleeps return at once,
    advancing ``time``; ``sleeps`` records every one asked for."""

    def __init__(self, time: float = 1000.0) -> None:
        self.time = time
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        seconds = max(seconds, 0.0)
        self.sleeps.append(seconds)
        self.time += seconds
        await asyncio.sleep(0)
