"""Waiting for a condition by polling it, with timeouts generous enough for a loaded
2-core machine; a timeout fails the test naming what never happened."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

TIMEOUT = 90.0  # generous: the machine is shared and loaded


def wait_until(check: Callable[[], bool], timeout: float = TIMEOUT, what: str = "") -> None:
    """Poll ``check`` until it is true; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.05)


async def until(check: Callable[[], bool], timeout: float = TIMEOUT, what: str = "") -> None:
    """:func:`wait_until` for a coroutine: polls ``check`` on the running loop."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.02)
