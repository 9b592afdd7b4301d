"""GroupCommit's ordering promise, with a disk that commits only when the test says so."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import pytest

from broker.engine.message import Message
from broker.engine.session import Outgoing, Session
from broker.protocol.codec import encode
from broker.protocol.packets import Puback, Publish
from broker.store import sqlite as sql
from broker.store.commit import GroupCommit
from broker.store.journal import Journal
from broker.store.records import Clocks

PUBACK = encode(Puback(1), 4)
PUBACK_2 = encode(Puback(2), 4)
PUBACK_REFUSED = encode(Puback(3, 0x97), 5)
PINGRESP = b"\xd0\x00"
PUBLISH_Q1 = encode(Publish("t", b"x", 1, packet_id=9), 4)


class Disk:
    """Stands in for SqliteFile: COMMIT blocks until ``release()``."""

    def __init__(self) -> None:
        self.staged: list[Any] = []
        self.committed: list[Any] = []
        self._go = threading.Semaphore(0)

    def stage(self, batch: Any) -> None:
        self.staged.append(batch)

    def commit(self) -> None:
        self._go.acquire()
        self.committed.append(self.staged[-1])

    def release(self) -> None:
        self._go.release()

    def checkpoint(self) -> None:
        pass

    def close(self) -> None:
        pass


class Transport:
    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return False


class Conn:
    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.shell = Transport()
        self.closed = False
        self.reading = True
        self.session = None


def _write(conn: Conn) -> None:  # the shell's flush of one connection
    if conn.out:
        conn.shell.write(b"".join(conn.out))
        conn.out = []


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.01)


async def _until(check: Callable[[], bool]) -> None:
    for _ in range(3000):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


def _rig(disk: Any = None) -> tuple[Any, Journal, GroupCommit, Session]:
    """A committer on the running loop over a fake disk, and a persistent session."""
    loop = asyncio.get_running_loop()
    disk = disk or Disk()
    journal = Journal(Clocks(loop.time))
    commit = GroupCommit(disk, journal, loop, _write)  # type: ignore[arg-type]
    session = Session("phone")
    session.expiry_interval = 60
    return disk, journal, commit, session


def _change(journal: Journal, session: Session) -> None:
    journal.delivery_added(session, Outgoing(Message("t", b"x", 1), 1, False, ()))


def test_acknowledgements_wait_for_their_commit() -> None:
    async def scenario() -> None:
        disk, journal, commit, session = _rig()
        publisher, subscriber = Conn(), Conn()

        _change(journal, session)
        publisher.out.append(PUBACK)
        subscriber.out.append(PUBLISH_Q1)
        commit.flush([publisher, subscriber])  # type: ignore[list-item]
        assert subscriber.shell.data == PUBLISH_Q1  # deliveries go out at once
        assert publisher.shell.data == b""  # the PUBACK waits for the disk

        _change(journal, session)  # a second message while the first commit runs
        publisher.out.append(PUBACK)
        commit.flush([publisher])  # type: ignore[list-item]
        await _settle()
        assert publisher.shell.data == b""

        disk.release()  # first commit done: only the first PUBACK may go
        await _settle()
        assert publisher.shell.data == PUBACK
        assert len(disk.committed) == 1

        disk.release()  # the second batch was started right after the first
        await _settle()
        assert publisher.shell.data == PUBACK * 2
        assert len(disk.committed) == 2
        disk.release()  # lets close() through
        await commit.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_nothing_pending_means_no_wait() -> None:
    async def scenario() -> None:
        disk, _, commit, _ = _rig()
        conn = Conn()
        conn.out.append(PUBACK)  # e.g. a message nobody persistent subscribes to
        commit.flush([conn])  # type: ignore[list-item]
        assert conn.shell.data == PUBACK
        assert disk.staged == []
        disk.release()
        await commit.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_retained_readings_wait_longer_than_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    from broker.store import commit as commit_module

    monkeypatch.setattr(commit_module, "LAZY_COMMIT_DELAY", 0.05)
    monkeypatch.setattr(commit_module, "RETAINED_COMMIT_DELAY", 0.5)

    async def scenario() -> None:
        disk, journal, commit, session = _rig()
        journal.retained_set(Message("home/t", b"21", 0, True))
        _change(journal, session)  # a queued message: due within the short delay
        disk.release()
        await asyncio.sleep(0.2)
        (first,) = disk.committed
        assert [statement for statement, rows in first if rows] == [sql.INSERT_DELIVERY]
        disk.release()
        await asyncio.sleep(0.6)  # the retained reading follows on its own timer
        assert len(disk.committed) == 2
        assert [statement for statement, rows in disk.committed[1] if rows] == [
            sql.UPSERT_RETAINED
        ]
        await commit.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))


class FullDisk(Disk):
    """SQLite on a file system with no space left: every COMMIT fails until ``full`` is
    False (staging works, as it does while the pages fit SQLite's cache)."""

    def __init__(self) -> None:
        super().__init__()
        self.full = True
        self.attempts = 0

    def commit(self) -> None:
        self.attempts += 1
        if self.full:
            raise sqlite3.OperationalError("database or disk is full")
        self.committed.append(self.staged[-1])


def _failing_rig(monkeypatch: pytest.MonkeyPatch) -> tuple[FullDisk, Journal, GroupCommit, Session]:
    from broker.store import commit as commit_module

    monkeypatch.setattr(commit_module, "RETRY_INTERVAL", 0.05)
    return _rig(FullDisk())


def test_a_failed_commit_holds_its_acknowledgements_until_a_retry_succeeds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario() -> None:
        disk, journal, commit, session = _failing_rig(monkeypatch)
        states: list[bool] = []
        commit.on_state = states.append
        durable: list[str] = []
        publisher, refused = Conn(), Conn()

        _change(journal, session)
        publisher.out.append(PUBACK)
        commit.flush([publisher])  # type: ignore[list-item]
        await _settle()
        assert publisher.shell.data == b""  # not on disk: not acknowledged
        assert states == [False] and not commit.ok

        _change(journal, session)  # the next message, while the disk is full
        publisher.out += [PUBACK_2, PINGRESP]
        refused.out.append(PUBACK_REFUSED)
        commit.flush([publisher, refused])  # type: ignore[list-item]
        commit.when_durable(lambda: durable.append("bridge ack"))
        assert refused.shell.data == PUBACK_REFUSED  # a refusal promises nothing: sent now
        assert publisher.shell.data == PINGRESP  # nor does PINGRESP: the client stays
        publisher.shell.data = b""
        await _until(lambda: commit.failed_commits >= 3)  # retried on its own
        assert publisher.shell.data == b"" and durable == []
        assert disk.committed == [] and all(batch is disk.staged[0] for batch in disk.staged)

        disk.full = False  # space freed: the store resumes by itself
        await _until(lambda: len(disk.committed) == 2)
        await _settle()
        assert publisher.shell.data == PUBACK + PUBACK_2  # in order, after their commits
        assert durable == ["bridge ack"]
        assert states == [False, True] and commit.ok
        first, second = disk.committed
        assert first is disk.staged[0]  # the failed batch itself went first
        assert [len(rows) for st, rows in first if st == sql.INSERT_DELIVERY] == [1]
        assert [len(rows) for st, rows in second if st == sql.INSERT_DELIVERY] == [1]
        await commit.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_shutdown_on_a_full_disk_sends_no_acknowledgement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario() -> None:
        disk, journal, commit, session = _failing_rig(monkeypatch)
        publisher = Conn()
        _change(journal, session)
        publisher.out.append(PUBACK)
        commit.flush([publisher])  # type: ignore[list-item]
        await _settle()
        _change(journal, session)
        publisher.out.append(PUBACK_2)
        commit.flush([publisher])  # type: ignore[list-item]
        await commit.drain()  # one more try, then it gives up instead of hanging
        assert publisher.shell.data == b"" and publisher.out == []
        await commit.close()
        assert disk.committed == []

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_retries_follow_the_monotonic_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wall clock jumping a day back and forth (a Pi's NTP sync) neither stops nor
    hurries the retries of a failed commit."""
    import itertools
    import time

    start = time.time()
    calls = itertools.count()

    def jumping() -> float:  # a day ahead, a day behind, ahead, ...
        return start + (86400 if next(calls) % 2 else -86400)

    async def scenario() -> None:
        disk, journal, commit, session = _failing_rig(monkeypatch)
        monkeypatch.setattr(time, "time", jumping)
        publisher = Conn()
        _change(journal, session)
        publisher.out.append(PUBACK)
        commit.flush([publisher])  # type: ignore[list-item]
        await _until(lambda: commit.failed_commits >= 3)
        disk.full = False
        await _until(lambda: publisher.shell.data == PUBACK)
        await commit.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_low_wear_mode_keeps_a_failed_batch_and_never_holds_output(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from broker.store import commit as commit_module

    monkeypatch.setattr(commit_module, "RETRY_INTERVAL", 0.05)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        disk = FullDisk()
        journal = Journal(Clocks(loop.time), full=False)
        commit = GroupCommit(
            disk,  # type: ignore[arg-type]
            journal,
            loop,
            _write,  # type: ignore[arg-type]
            hold_output=False,
            interval=0.05,
        )
        states: list[bool] = []
        commit.on_state = states.append
        journal.retained_set(Message("home/t", b"21", 0, True))
        await _until(lambda: commit.failed_commits >= 2)
        conn = Conn()
        conn.out.append(PUBACK)
        commit.flush([conn])  # type: ignore[list-item]
        assert conn.shell.data == PUBACK  # low-wear never promised a commit
        disk.full = False
        await _until(lambda: len(disk.committed) == 1)
        assert [st for st, rows in disk.committed[0] if rows] == [sql.UPSERT_RETAINED]
        # The disk thread records the commit before the loop hears of it.
        await _until(lambda: len(states) == 2)
        assert states == [False, True]
        await commit.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))
