"""Group commit: one transaction per loop turn, and acknowledgements only after it.

The guarantee "PUBACK/PUBREC sent means the message is on disk" rests on ordering: the
output the engine produced up to a point (acknowledgements among it) is held back until
the batch of store changes journaled up to the same point is committed. The commit runs in
a writer thread, so the event loop keeps reading and routing while SQLite waits for the
disk; whatever arrives meanwhile forms the next batch. Each batch costs one WAL append and
one fsync however many messages it holds.

Why one module of 500 lines: the commit's state machine (batch in flight, failed batch and
its retry, output held per connection, callbacks) is one ordering promise; split, its
invariants would span files. The writer thread (:class:`Writer`) is its only helper.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from ..engine.connection import NEEDS_COMMIT, NEEDS_SESSION_COMMIT
from ..protocol.control import PINGRESP_BYTES
from .iostats import thread_bytes_written
from .journal import Journal
from .sqlite import PROBE, Batch, SqliteFile

if TYPE_CHECKING:
    from ..engine.connection import Connection

log = logging.getLogger("broker.store")

#: Seconds a commit nobody waits for may be put off (see GroupCommit._wake): messages and
#: session changes, and retained messages (a sensor's reading every few seconds must not
#: cost a disk write each).
LAZY_COMMIT_DELAY = 0.5
RETAINED_COMMIT_DELAY = 5.0
#: Commit latency buckets (seconds): an SSD commits in about a millisecond, an SD card in
#: tens of milliseconds, a card that is wearing out in hundreds.
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: Seconds between attempts to commit again after a failed commit (a full or broken disk).
RETRY_INTERVAL = 1.0

# Connections and their output (whole packets) detached for a batch, written once it is
# committed.
_Held = dict["Connection", list[bytes]]


class _Failed:
    """A batch the disk refused, with everything that waits for it: tried again later."""

    __slots__ = ("batch", "held", "callbacks")

    def __init__(self, batch: Batch, held: _Held, callbacks: list[Callable[[], None]]) -> None:
        self.batch = batch
        self.held = held
        self.callbacks = callbacks


class CommitLatency:
    """Commit latencies counted into :data:`COMMIT_BUCKETS`, for the metrics endpoint.

    Counted here rather than with prometheus_client's Histogram: importing that library costs
    the broker about 14 MB of resident memory, which a broker without ``--metrics-port``
    should not pay (broker/metrics.py turns these counts into the histogram when scraped).
    """

    def __init__(self, bounds: tuple[float, ...] = COMMIT_BUCKETS) -> None:
        self.bounds = bounds
        #: counts[i]: commits that took at most bounds[i] and more than bounds[i - 1]; the
        #: last one counts those slower than every bound.
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        """Count one commit that took ``seconds``."""
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds


class GroupCommit:
    """Drives commits of ``journal`` into ``db`` and releases held output after each.

    ``write(conn)`` is the shell's normal flush of one connection, ``write_packets(conn,
    packets)`` writes packets taken from its output earlier. With ``hold_output``
    False (the low-wear mode) output is never held and commits run every ``interval``
    seconds instead of every loop turn.

    A commit that fails (a full SD card, an I/O error) is never reported as done: its
    batch, the output held for it and its ``when_durable`` callbacks are kept, and the
    same batch is tried again every :data:`RETRY_INTERVAL` seconds (the loop's monotonic
    clock) until the disk takes it. Meanwhile nothing newer is committed or released, so
    nothing is acknowledged out of order; ``on_state(ok)`` is called when the store starts
    failing and when it works again.
    """

    def __init__(
        self,
        db: SqliteFile,
        journal: Journal,
        loop: asyncio.AbstractEventLoop,
        write: Callable[[Connection], None],
        write_packets: Callable[[Connection, list[bytes]], None],
        hold_output: bool = True,
        interval: float = 0.0,
    ) -> None:
        self.db = db
        self.journal = journal
        self.loop = loop
        self.write = write
        self.write_packets = write_packets
        self.hold_output = hold_output
        self.interval = interval
        self.commits = 0
        #: Time from handing a batch to the writer thread to its commit returning (metrics).
        self.commit_seconds = CommitLatency()
        self._writer = Writer(loop)
        self._busy: asyncio.Future | None = None
        self._waiting: list[Connection] = []
        #: when_durable callbacks for the changes not yet taken, and for the batch in flight.
        self._next_callbacks: list[Callable[[], None]] = []
        self._busy_callbacks: list[Callable[[], None]] = []
        self._kick: asyncio.TimerHandle | None = None
        self._retained_due: float | None = None
        #: Connections whose held output rides on the commit in flight.
        self._holding: set[Connection] = set()
        self._timer: asyncio.TimerHandle | None = None
        #: The batch in flight, kept until it is known to be committed.
        self._inflight: Batch = []
        #: The batch that failed to commit, waiting for its retry (None: the store works).
        self._failed: _Failed | None = None
        self._retry: asyncio.TimerHandle | None = None
        #: Commits that failed since the broker started.
        self.failed_commits = 0
        #: Called with False when commits start failing, with True when one succeeds again.
        self.on_state: Callable[[bool], None] | None = None
        self._failing = False
        self._gave_up = False
        if hold_output:
            journal.wake = self._wake
            if journal.pending:  # rows the loader rewrote (times capped after a clock jump)
                self._wake("state")
        elif interval > 0:
            self._timer = loop.call_later(interval, self._periodic)

    # --- the shell's side ----------------------------------------------------------------

    def flush(self, dirty: list[Connection]) -> None:
        """Write these connections' output once the changes made before it are durable.

        Only output that promises durability waits: acknowledgements of QoS 1/2 messages,
        QoS 2 traffic and SUBACK/UNSUBACK. QoS 0/1 PUBLISH packets to subscribers go out at
        once (a crash before the commit can only cause a QoS 1 duplicate), so a subscriber
        that acknowledges quickly cancels the delivery's row before it is ever written.
        """
        if not self.hold_output:
            for conn in dirty:
                self.write(conn)
            return
        busy = self._busy is not None or self._failed is not None
        holding = self._holding
        to_hold: list[Connection] = []
        for conn in dirty:
            if conn in holding or must_wait(conn):
                if busy:
                    self._waiting.append(conn)
                    self._answer_pings(conn)
                    if not conn.reading:
                        _pause_reading(conn)  # held back by the engine: stop its input now
                elif conn not in to_hold:
                    to_hold.append(conn)
            else:
                self.write(conn)
        if busy:
            return
        if to_hold:
            self._start(self._take(), self._detach(to_hold))

    def _answer_pings(self, conn: Connection) -> None:
        """Send PINGRESPs at once: they promise nothing, and a client whose acknowledgements
        wait for a disk that is full must not think the broker dead."""
        out = conn.out
        if PINGRESP_BYTES in out:
            transport = conn.shell
            if transport is None or transport.is_closing():  # type: ignore[attr-defined]
                return
            conn.out = [packet for packet in out if packet != PINGRESP_BYTES]
            self.write_packets(conn, [PINGRESP_BYTES])

    def _detach(self, conns: list[Connection]) -> _Held:
        """Move the connections' output aside until the batch taken now is committed."""
        held: _Held = {}
        for conn in conns:
            held[conn] = conn.take_output()  # later output waits for a later commit
            self._holding.add(conn)
        return held

    @property
    def ok(self) -> bool:
        """False from a failed commit until a commit succeeds again."""
        return not self._failing

    def when_durable(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once every change journaled so far is committed."""
        failed = self._failed
        if not self.hold_output or (
            self._busy is None and failed is None and not self.journal.pending
        ):
            callback()
        elif self.journal.pending:
            self._next_callbacks.append(callback)
            self._commit_within(0.0)
        elif failed is not None:
            failed.callbacks.append(callback)
        else:
            self._busy_callbacks.append(callback)

    async def drain(self) -> None:
        """Commit everything journaled so far and release all held output.

        When the disk refuses the commit (after one more try), the held output is dropped
        instead: at shutdown, an acknowledgement that is not on disk must not be sent.
        """
        retried = False
        while self._busy is not None or self.journal.pending or self._waiting or self._failed:
            busy = self._busy
            if busy is not None:
                with contextlib.suppress(Exception):  # a failure is _done's to handle
                    await asyncio.shield(busy)
                if self._busy is busy:  # settled, and its _done is scheduled: let it run
                    await asyncio.sleep(0)
                continue
            failed = self._failed
            if failed is not None:
                if retried:
                    self._give_up(failed)
                    return
                retried = True
                self._try_again()
                continue
            if self.journal.pending:
                self._start(self._take(), {})
                continue
            waiting, self._waiting = self._waiting, []
            for conn in waiting:
                self.write(conn)

    def _give_up(self, failed: _Failed) -> None:
        """Shutdown with the disk still refusing: what waited for it is never sent."""
        held = list(failed.held) + self._waiting
        if not self._gave_up:
            self._gave_up = True
            log.error(
                "store: stopping while the disk refuses writes: changes made since it did are "
                "lost; none was acknowledged (%d connections' acknowledgements not sent, "
                "their clients send those messages again)",
                len(set(held)),
            )
        for conn in held:
            self._holding.discard(conn)
            conn.take_output()
        self._waiting = []

    async def close(self) -> None:
        """Final commit, fold the WAL into the file, stop the writer thread."""
        for timer in (self._timer, self._kick, self._retry):
            if timer is not None:
                timer.cancel()
        await self.drain()
        try:
            await self._writer.run(self.db.checkpoint)
        except Exception as exc:  # the data is committed; a failed checkpoint only costs space
            log.warning("store: checkpoint at shutdown failed: %s", exc)
        await self._writer.run(self.db.close)
        self._writer.stop()

    def bytes_written(self) -> int | None:
        """Bytes the writer thread has written to the store's files (None off Linux)."""
        return thread_bytes_written(self._writer.tid)

    # --- internals ---------------------------------------------------------------------------

    def _take(self, retained: bool = True) -> Batch:
        if retained:
            self._retained_due = None
        return self.journal.take(retained)

    def _wake(self, kind: str) -> None:
        # Changes nobody waits for (an in-process publish, a delivery to a fast subscriber,
        # a retained reading from a driver): commit a little later. Meanwhile subscribers'
        # PUBACKs cancel their rows, and more changes share the commit. A commit somebody
        # waits for (flush with held output) takes all of them at once anyway.
        if kind == "retained":
            self._retained_due = self.loop.time() + RETAINED_COMMIT_DELAY
            self._commit_within(RETAINED_COMMIT_DELAY)
        else:
            self._commit_within(LAZY_COMMIT_DELAY)

    def _commit_within(self, delay: float) -> None:
        when = self.loop.time() + delay
        kick = self._kick
        if kick is not None:
            if kick.when() <= when:
                return
            kick.cancel()
        self._kick = self.loop.call_at(when, self._kicked)

    def _kicked(self) -> None:
        self._kick = None
        if self._busy is None and self._failed is None and self.journal.pending:
            due = self._retained_due
            # (a timer may fire a hair early: a few milliseconds count as due)
            retained = due is not None and self.loop.time() >= due - 0.01
            self._start(self._take(retained), {})
        # Busy or failing: _done looks again once a commit is over.

    def _rearm(self) -> None:
        """After a commit: changes that arrived meanwhile get their timer back."""
        if self._kick is not None:
            return
        if self.journal.state_pending:
            self._commit_within(LAZY_COMMIT_DELAY)
        elif self.journal.pending:
            due = self._retained_due
            self._commit_within(
                max(0.0, due - self.loop.time()) if due is not None else RETAINED_COMMIT_DELAY
            )

    def _periodic(self) -> None:
        self._timer = self.loop.call_later(self.interval, self._periodic)
        if self._busy is None and self._failed is None and self.journal.pending:
            self._start(self._take(), {})

    def _retry_later(self) -> None:
        if self._retry is None:
            self._retry = self.loop.call_later(RETRY_INTERVAL, self._retry_due)

    def _retry_due(self) -> None:
        self._retry = None
        if self._busy is None and self._failed is not None:
            self._try_again()

    def _try_again(self) -> None:
        """Stage the failed batch once more (alone: newer changes stay in the journal,
        where a retained topic updated again or a delivery acknowledged meanwhile still
        folds into one row or none)."""
        failed = self._failed
        assert failed is not None
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        self._failed = None
        self._start(failed.batch, failed.held, failed.callbacks)

    def _start(
        self, batch: Batch, held: _Held, callbacks: list[Callable[[], None]] | None = None
    ) -> None:
        if callbacks is None:
            callbacks, self._next_callbacks = self._next_callbacks, []
        self._busy_callbacks = callbacks
        self._inflight = batch
        if not any(rows for _, rows in batch):
            # Everything cancelled out (deliveries acknowledged meanwhile): no disk write.
            done: asyncio.Future = self.loop.create_future()
            done.set_result(None)
            self._busy = done
            self._done(held, done)
            return
        try:
            self.db.stage(batch)
        except Exception as exc:
            failed: asyncio.Future = self.loop.create_future()
            failed.set_exception(exc)
            self._busy = failed
            self.loop.call_soon(self._done, held, failed)
            return
        self.commits += 1
        started = self.loop.time()
        busy = self._busy = self._writer.run(self.db.commit)
        busy.add_done_callback(lambda _: self.commit_seconds.observe(self.loop.time() - started))
        busy.add_done_callback(partial(self._done, held))

    def _done(self, held: _Held, fut: asyncio.Future) -> None:
        self._busy = None
        batch, self._inflight = self._inflight, []
        exc = fut.exception() if not fut.cancelled() else RuntimeError("commit cancelled")
        if exc is not None:
            self._failed_commit(_Failed(batch, held, self._busy_callbacks), exc)
            self._busy_callbacks = []
            return
        recovered = self._failing
        self._released(held)
        if recovered:
            self._failing = False
            log.warning(
                "store: commits succeed again after %d failed; messages are durable again",
                self.failed_commits,
            )
            if self.on_state is not None:
                self.on_state(True)
        if self.hold_output:
            waiting, self._waiting = self._waiting, []
            self.flush(waiting)
            if self._busy is None:
                self._rearm()

    def start_failing(self) -> None:
        """The file could not even be opened (see open_store, which said why): start as
        after a failed commit, with a write that changes nothing as the batch to retry."""
        self._failed_commit(_Failed(PROBE, {}, []), None)

    def _failed_commit(self, failed: _Failed, exc: BaseException | None) -> None:
        """Keep the batch and what waits for it; try again on a timer. Said once, loudly."""
        self.failed_commits += 1
        self._failed = failed
        self._retry_later()
        if self._failing:
            return
        self._failing = True
        if exc is not None:
            log.error(
                "store: commit failed (%s); QoS 1/2 messages are not acknowledged until the "
                "disk takes them (retrying every %g s)",
                exc,
                RETRY_INTERVAL,
            )
        if self.on_state is not None:
            self.on_state(False)

    def _released(self, held: _Held) -> None:
        """A batch is committed: write the output held for it, run its callbacks."""
        write = self.write
        for conn, packets in held.items():
            self._holding.discard(conn)
            if conn.shell is None:
                continue
            if packets:
                self.write_packets(conn, packets)
            if not conn.out:
                # Nothing newer to hold back: let the shell close it or resume reading.
                # (Newer output woke the connection again; it is flushed after a later commit.)
                write(conn)
        callbacks, self._busy_callbacks = self._busy_callbacks, []
        for callback in callbacks:
            callback()


def _persistent(conn: Connection) -> bool:
    session = conn.session
    return session is None or session.expiry_interval != 0


def _pause_reading(conn: Connection) -> None:
    """Stop reading a connection whose output waits (the shell's flush would, but later)."""
    transport = conn.shell
    is_reading = getattr(transport, "is_reading", None)
    if is_reading is not None and is_reading():
        transport.pause_reading()  # type: ignore[attr-defined]


def must_wait(conn: Connection) -> bool:
    """Whether ``conn``'s queued output holds a packet that may only be sent once the store
    committed: one that promises a message is stored (``NEEDS_COMMIT``: an accepting
    PUBACK/PUBREC, a QoS 2 PUBLISH), or one about the session's stored state
    (``NEEDS_SESSION_COMMIT``: SUBACK, UNSUBACK, PUBREL, PUBCOMP) when the session is stored
    at all. The engine marks each packet as it queues it (broker.engine.connection)."""
    needs = conn.needs
    return bool(needs & NEEDS_COMMIT) or bool(needs & NEEDS_SESSION_COMMIT and _persistent(conn))


class Writer:
    """The store's own thread: runs disk writes one at a time, reports back to the loop.

    Leaner than a ThreadPoolExecutor on the hot path (a C queue in, one call_soon_threadsafe
    out), and its thread id is known, for the bytes-written counter.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        started = threading.Event()
        self.tid = 0

        def work() -> None:
            self.tid = threading.get_native_id()
            started.set()
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                fn, fut = job
                try:
                    result = fn()
                except BaseException as exc:  # handed to the loop, which decides
                    loop.call_soon_threadsafe(_settle, fut, None, exc)
                else:
                    loop.call_soon_threadsafe(_settle, fut, result, None)

        self._thread = threading.Thread(target=work, name="broker-store", daemon=True)
        self._thread.start()
        started.wait()

    def run(self, fn: Callable[[], object]) -> asyncio.Future:
        """Run ``fn`` in the writer thread; the future resolves on the loop."""
        fut = self.loop.create_future()
        self._jobs.put((fn, fut))
        return fut

    def stop(self) -> None:
        self._jobs.put(None)
        self._thread.join()


def _settle(fut: asyncio.Future, result: object, exc: BaseException | None) -> None:
    if fut.cancelled():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)
