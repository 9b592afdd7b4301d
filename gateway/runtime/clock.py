"""Time for the runners, swappable in tests so retry sequences run without waiting."""

from __future__ import annotations

import asyncio
from typing import Protocol


class Clock(Protocol):
    """What the runners need of time."""

    def now(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


class LoopClock:
    """The event loop's monotonic clock."""

    def now(self) -> float:
        """Seconds on the running loop's monotonic scale."""
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (negative means not at all)."""
        await asyncio.sleep(max(seconds, 0.0))
