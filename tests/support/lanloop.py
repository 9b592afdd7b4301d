"""An asyncio event loop whose thread sits in the LAN namespace (support.lan).

Every socket its coroutines open (aiohttp sessions, WebSockets, asyncio streams) comes from
``lan.peer_ip``, so async clients attack from the house network while the gateway under
test runs on a loop of its own on the host side.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from support.lan import Lan

T = TypeVar("T")


class LanLoop:
    """A loop running in a daemon thread that joined ``lan``'s namespace."""

    def __init__(self, lan: Lan) -> None:
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        failed: list[BaseException] = []

        def main() -> None:
            try:
                lan.enter()
            except BaseException as exc:  # handed to the constructor's caller
                failed.append(exc)
                started.set()
                return
            started.set()
            self.loop.run_forever()

        self._thread = threading.Thread(target=main, name="lan-loop", daemon=True)
        self._thread.start()
        started.wait()
        if failed:
            self.loop.close()
            raise failed[0]

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
        """Runs ``coro`` on the stranger's loop and returns its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        self.loop.close()


@pytest.fixture
def lan_loop(lan: Lan) -> Iterator[LanLoop]:
    """An event loop inside ``lan``'s namespace."""
    stranger = LanLoop(lan)
    try:
        yield stranger
    finally:
        stranger.close()
