"""Slowing down wrong passwords: per client address, and per username.

:class:`LoginBackoff` is one table of keys (addresses, or usernames). The first
``free_failures`` wrong passwords for one key cost nothing; after the next one, the next
attempt must wait ``base_delay`` before it is even checked (by default 3 wrong passwords
make the 4th attempt wait 1 s); the wait doubles with each further failure, up to
``max_delay``. An attempt made while the key is still
waiting fails without looking at the password, so guessing runs at most one try per wait.
A correct password clears the key; so does ``forget_after`` seconds of quiet.

:class:`LoginGuard` is the gateway's one guard over both tables, shared by every broker
listener (tcp, tls, ws, wss) and the dashboard: an address that must wait, waits
everywhere, and many addresses guessing one user's password are slowed by that user's
table. It counts an attempt as failed from the moment its check starts, so attempts sent in
parallel (the checks run off the event loop) cannot all slip through before the first
answer.

Tables are bounded (``max_addresses`` keys, least recently failed evicted first) so a flood
of addresses or usernames cannot grow memory without limit.
"""

from __future__ import annotations

import ipaddress
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
        free_failures: int = 2,
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
        delay = self._delay(record.failures)
        record.blocked_until = now + delay
        while len(self._records) > self.max_addresses:
            self._records.popitem(last=False)
        return delay

    def _delay(self, failures: int) -> float:
        over = failures - self.free_failures
        return 0.0 if over <= 0 else min(self.max_delay, self.base_delay * 2 ** (over - 1))

    def record_success(self, address: str) -> None:
        """A correct password: ``address`` starts afresh."""
        self._records.pop(address, None)

    def forgive_one(self, key: str) -> None:
        """Take back one failure counted for ``key`` (an attempt counted before its check
        that turned out right), leaving the others and their wait."""
        record = self._records.get(key)
        if record is None:
            return
        record.failures -= 1
        if record.failures <= 0:
            del self._records[key]
            return
        record.blocked_until = min(record.blocked_until,
                                   record.last_failure + self._delay(record.failures))

    def __len__(self) -> int:
        return len(self._records)



def address_key(address: str) -> str:
    """The key of a client address in the per-address table: the address itself, with
    IPv4-mapped IPv6 (a dual-stack socket's view of an IPv4 client) as its IPv4 address, so
    a listener on 0.0.0.0 and a dashboard on :: count one client once.

    Not an IPv6 /64: on a home network every device shares one (all of them share fe80::/64,
    which ``.local`` names often resolve to), and one phone with an old password would make
    them all wait. A guesser hopping between addresses meets the per-user table instead."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address  # serial:..., or a name: kept whole
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


#: per username: more free failures than per address (a user mistyping on two devices is
#: not an attack), the same doubling waits after them
USER_FREE_FAILURES = 9


#: (address, user) pairs that logged in, remembered at most (least recent forgotten first)
MAX_KNOWN_PAIRS = 10_000


class LoginGuard:
    """One backoff per source address and one per username, for every way in.

    An address a user has logged in from before is not held up by that user's table: a
    stranger guessing alice's password makes new addresses wait for alice, not her own
    phone. A right password clears its address's count, but not the user's (the user's
    count fades after ``forget_after`` quiet seconds), so a login of the real user does not
    hand a guesser a fresh set of free attempts.
    """

    def __init__(self, addresses: LoginBackoff | None = None,
                 users: LoginBackoff | None = None) -> None:
        self.addresses = addresses if addresses is not None else LoginBackoff()
        self.users = users if users is not None else LoginBackoff(
            free_failures=USER_FREE_FAILURES, clock=self.addresses._clock)
        self._known: OrderedDict[tuple[str, str], None] = OrderedDict()

    def wait_remaining(self, address: str, username: str) -> float:
        """Seconds until ``address`` may try ``username`` again (0.0: it may now)."""
        key = address_key(address)
        wait = self.addresses.wait_remaining(key)
        if (key, username) in self._known:
            return wait
        return max(wait, self.users.wait_remaining(username))

    def begin(self, address: str, username: str) -> bool:
        """Call before checking a password: False when the attempt must fail unchecked
        (the address or the user is waiting). Otherwise the attempt counts as a failure
        until :meth:`succeeded` says it was not one."""
        if self.wait_remaining(address, username) > 0.0:
            return False
        self.addresses.record_failure(address_key(address))
        self.users.record_failure(username)
        return True

    def succeeded(self, address: str, username: str) -> None:
        """The password was right: the address starts afresh and is known for the user."""
        key = address_key(address)
        self.addresses.record_success(key)
        self.users.forgive_one(username)
        self._known[(key, username)] = None
        self._known.move_to_end((key, username))
        while len(self._known) > MAX_KNOWN_PAIRS:
            self._known.popitem(last=False)


def as_guard(backoff: LoginBackoff | LoginGuard | None) -> LoginGuard:
    """A guard from what a caller passed: a guard, an address table to wrap, or nothing."""
    if isinstance(backoff, LoginGuard):
        return backoff
    return LoginGuard(backoff)
