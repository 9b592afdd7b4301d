"""Time for the runners, swappable in tests so retry sequences run without waiting."""

from __future__ import annotations

import asyncio


class Clock:
    """The event loop's monotonic clock."""

    def now(self) -> float:
        """Seconds on a monotonic scale."""
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        await asyncio.sleep(max(seconds, 0.0))
