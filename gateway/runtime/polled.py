"""The poll loop of a sensor read on a timer (DHT, Pi health).

Per interval: read in a worker thread (the read blocks for milliseconds to seconds), with
at most ``retries`` further attempts ``retry_delay`` apart, never two hardware reads closer
than the device's ``min_interval``. A read that raises, hangs past ``read_timeout`` or is
implausible is a failed attempt. After ``max_failures`` failed intervals in a row the
sensor is published offline; it keeps trying and comes back online with the next good read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from gateway.drivers.base import PolledDevice, Value
from gateway.runtime.channel import ChannelPublisher
from gateway.runtime.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollSettings:
    """The polled-driver options (see gateway.drivers.base.POLLED_OPTIONS)."""

    interval: float
    retries: int = 3
    retry_delay: float = 2.0
    max_failures: int = 3
    read_timeout: float = 10.0

    @classmethod
    def from_options(cls, interval: float, options: Mapping[str, Any]) -> PollSettings:
        """Build from a sensor's validated options."""
        return cls(interval=interval, retries=options["retries"],
                   retry_delay=options["retry_delay"], max_failures=options["max_failures"],
                   read_timeout=options["read_timeout"])


class PolledRunner:
    """Runs one polled device; ``publishers`` maps channel keys to their publishers."""

    def __init__(self, name: str, device: PolledDevice,
                 publishers: Mapping[str, ChannelPublisher], settings: PollSettings,
                 clock: Clock) -> None:
        self.name = name
        self.device = device
        self.publishers = publishers
        self.settings = settings
        self.clock = clock
        self.failures = 0              # failed intervals in a row
        self.reads = 0                 # read attempts since start (metrics)
        self.read_failures = 0         # attempts that failed or were implausible
        self.last_error: str | None = None
        self.accepted: dict[str, Value] | None = None
        self._accepted_at: float | None = None
        self._last_read_at: float | None = None
        # One thread per device: a hung read blocks only this sensor, and is never piled on.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"read-{name}")
        self._pending: Future[dict[str, Value]] | None = None
        self._closed = False

    async def run(self) -> None:
        """Poll until cancelled."""
        try:
            while True:
                started = self.clock.now()
                await self.poll_once()
                await self.clock.sleep(started + self.settings.interval - self.clock.now())
        finally:
            self.close()

    async def poll_once(self) -> bool:
        """One interval: read with retries; True when a reading was accepted."""
        for attempt in range(self.settings.retries + 1):
            if attempt:
                await self.clock.sleep(self.settings.retry_delay)
            values = await self._attempt()
            if values is not None:
                self._accept(values)
                return True
        self.failures += 1
        log.warning("%s: no good reading this interval (%d in a row): %s", self.name,
                    self.failures, self.last_error)
        if self.failures >= self.settings.max_failures:
            for publisher in self.publishers.values():
                publisher.set_available(False)
        return False

    async def _attempt(self) -> dict[str, Value] | None:
        await self._space_reads()
        self.reads += 1
        try:
            values = await self._read()
        except (RuntimeError, OSError, TimeoutError) as exc:
            self.read_failures += 1
            self.last_error = str(exc) or type(exc).__name__
            log.debug("%s: read failed: %s", self.name, self.last_error)
            return None
        now = self.clock.now()
        elapsed = now - self._accepted_at if self._accepted_at is not None else 0.0
        reason = self.device.implausible(values, self.accepted, elapsed)
        if reason is not None:
            self.read_failures += 1
            self.last_error = f"implausible reading {values}: {reason}"
            log.debug("%s: %s", self.name, self.last_error)
            return None
        return values

    async def _space_reads(self) -> None:
        if self._last_read_at is None or not self.device.min_interval:
            return
        wait = self._last_read_at + self.device.min_interval - self.clock.now()
        if wait > 0:
            await self.clock.sleep(wait)

    async def _read(self) -> dict[str, Value]:
        if self._pending is not None and not self._pending.done():
            raise TimeoutError("the previous read has not returned yet")
        self._last_read_at = self.clock.now()
        self._pending = self._executor.submit(self.device.read)
        wrapped = asyncio.wrap_future(self._pending)
        # A read that outlives its timeout still finishes; fetch its outcome so asyncio
        # does not report an exception nobody retrieved.
        wrapped.add_done_callback(lambda f: f.cancelled() or f.exception())
        # asyncio.timeout, not wait_for: Python 3.11's wait_for loses a cancellation that
        # arrives as the read completes, and the poll loop would then never stop.
        async with asyncio.timeout(self.settings.read_timeout):
            return await asyncio.shield(wrapped)

    def _accept(self, values: dict[str, Value]) -> None:
        self.failures = 0
        self.accepted = values
        self._accepted_at = self.clock.now()
        for key, value in values.items():
            publisher = self.publishers.get(key)
            if publisher is not None:
                publisher.set_available(True)
                publisher.offer(value)

    def close(self) -> None:
        """Release the worker thread and the device (once; later calls do nothing)."""
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
        try:
            self.device.close()
        except Exception:  # closing is best effort; one bad device must not block shutdown
            log.exception("%s: closing the device failed", self.name)
