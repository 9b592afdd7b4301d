"""Binary inputs: gpiozero edge callbacks (any thread) -> debounce on the loop -> publish.

Debouncing here rather than in the pin driver makes it behave the same on every pin
factory (gpiozero's MockFactory ignores bounce_time): after an edge, the level must hold
for ``debounce`` seconds, and only a settled level that differs from the published one is
published.
"""

from __future__ import annotations

import asyncio

from gateway.drivers.base import InputDevice
from gateway.runtime.channel import ChannelPublisher


class InputRunner:
    """Connects one input device to its channel publisher."""

    def __init__(self, device: InputDevice, publisher: ChannelPublisher) -> None:
        self.device = device
        self.publisher = publisher
        self.debounce = device.debounce
        self._loop: asyncio.AbstractEventLoop | None = None
        self._settle_handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Publish the current level and follow its changes."""
        self._loop = asyncio.get_running_loop()
        self.device.start(self._edge_from_any_thread)
        self._settle()

    def _edge_from_any_thread(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._edge)

    def _edge(self) -> None:
        if self.debounce <= 0:
            self._settle()
            return
        if self._settle_handle is not None:
            self._settle_handle.cancel()
        assert self._loop is not None
        self._settle_handle = self._loop.call_later(self.debounce, self._settle)

    def _settle(self) -> None:
        self._settle_handle = None
        # The publisher gates ON/OFF channels to changes, so a bounce that returns to the
        # published level publishes nothing.
        self.publisher.offer(self.device.is_active())

    def close(self) -> None:
        """Stop following the pin and release it."""
        self._loop = None
        if self._settle_handle is not None:
            self._settle_handle.cancel()
        self.device.close()
