"""A slowing backoff per client address for wrong passwords.

After ``free_failures`` wrong passwords from one address, that address must wait before its
next attempt is even checked: the wait doubles with each further failure, up to
``max_delay``. An attempt made while the address is still waiting fails without looking at
the password, so guessing runs at most one try per wait. A correct password clears the
address; so does ``forget_after`` seconds of quiet.

The table is bounded (``max_addresses``, least recently failed evicted first) so a flood of
addresses cannot grow memory without limit.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Record:
    failures: int
    last_failure: float
    blocked_until: float


class LoginBackoff:
    """Failure bookkeeping per address; the clock is injectable for tests."""

    def __init__(
        self,
        *,
        free_failures: int = 3,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        forget_after: float = 600.0,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free_failures = free_failures
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.forget_after = forget_after
        self.max_addresses = max_addresses
        self._clock = clock
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def _current(self, address: str, now: float) -> _Record | None:
        record = self._records.get(address)
        if record is not None and now - record.last_failure > self.forget_after:
            del self._records[address]
            return None
        return record

    def wait_remaining(self, address: str) -> float:
        """Seconds until ``address`` may try again (0.0 when it may try now)."""
        now = self._clock()
        record = self._current(address, now)
        if record is None:
            return 0.0
        return max(0.0, record.blocked_until - now)

    def is_blocked(self, address: str) -> bool:
        """True while ``address`` must wait; its attempts then fail unchecked."""
        return self.wait_remaining(address) > 0.0

    def record_failure(self, address: str) -> float:
        """Count a wrong password from ``address``; returns the wait it now has."""
        now = self._clock()
        record = self._current(address, now)
        if record is None:
            record = _Record(0, now, now)
            self._records[address] = record
        record.failures += 1
        record.last_failure = now
        self._records.move_to_end(address)
        over = record.failures - self.free_failures
        delay = 0.0 if over <= 0 else min(self.max_delay, self.base_delay * 2 ** (over - 1))
        record.blocked_until = now + delay
        while len(self._records) > self.max_addresses:
            self._records.popitem(last=False)
        return delay

    def record_success(self, address: str) -> None:
        """A correct password: ``address`` starts afresh."""
        self._records.pop(address, None)

    def __len__(self) -> int:
        return len(self._records)

