"""The store as the broker shell sees it: open, restore, hook into the engine, commit, close."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from .commit import GroupCommit
from .journal import Journal
from .loader import restore
from .records import Clocks
from .recovery import open_store

if TYPE_CHECKING:
    from ..config import BrokerConfig
    from ..engine.connection import Connection
    from ..engine.engine import Engine
    from ..engine.sys import SysTopics

log = logging.getLogger("broker.store")

FILE_NAME = "broker.db"
MODES = ("full", "low-wear")


class Persistence:
    """Durable broker state under ``config.data_dir``.

    ``full``: retained messages, sessions, subscriptions, queued and in-flight QoS 1/2
    messages, QoS 2 state from clients and delayed wills; PUBACK/PUBREC only after commit.
    ``low-wear``: retained messages, sessions and subscriptions only, committed every
    ``persistence_interval`` seconds.
    """

    def __init__(self, commit: GroupCommit, journal: Journal, path: Path) -> None:
        self.commit = commit
        self.journal = journal
        self.path = path
        self._sys: SysTopics | None = None

    @classmethod
    def open(
        cls,
        config: BrokerConfig,
        engine: Engine,
        loop: asyncio.AbstractEventLoop,
        write: Callable[[Connection], None],
        write_packets: Callable[[Connection, list[bytes]], None],
    ) -> Persistence:
        """Open the store, load it into ``engine`` and attach the hooks (``engine.store``)."""
        mode = config.persistence
        if mode not in MODES:
            raise ValueError(f"persistence must be one of {', '.join(MODES)}, not {mode!r}")
        full = mode == "full"
        path = Path(config.data_dir) / FILE_NAME
        db, snap = open_store(path, durable=full)
        clocks = Clocks(engine.clock)
        journal = Journal(clocks, full=full)
        restore(engine, snap, journal, clocks)
        log.info("store %s (%s): loaded %s", path, mode, snap.summary())
        commit = GroupCommit(
            db,
            journal,
            loop,
            write,
            write_packets,
            hold_output=full,
            interval=0.0 if full else max(config.persistence_interval, 0.1),
        )
        engine.store = journal
        persistence = cls(commit, journal, path)
        commit.on_state = partial(persistence._state_changed, engine, full, config.sys_interval)
        if config.sys_interval > 0:
            persistence._sys = engine.sys
            engine.sys.add_source(persistence.sys_values)
        if not db.is_open:
            commit.start_failing()
        return persistence

    @property
    def state(self) -> str:
        """"ok", or "failing" from a failed commit until one succeeds again."""
        return "ok" if self.commit.ok else "failing"

    def _state_changed(self, engine: Engine, full: bool, sys_interval: float, ok: bool) -> None:
        # Only the full mode promises durability with its acknowledgements; low-wear keeps
        # taking messages and just retries its commit.
        engine.store_failing = full and not ok
        if sys_interval > 0:
            engine.sys.publish(self.sys_values)  # subscribers learn of it now
        if ok:
            engine.release_held()

    def sys_values(self) -> Iterator[tuple[str, object]]:
        """$SYS/broker/store/...: the store's state and what it costs the SD card (a source
        of the engine's $SYS registry, broker.engine.sys)."""
        commit = self.commit
        yield "store/bytes written", self.bytes_written()
        yield "store/commits", commit.commits
        yield "store/state", self.state
        yield "store/failed commits", commit.failed_commits

    def flush(self, dirty: list[Connection]) -> None:
        """The shell's per-turn flush: output goes out once the changes before it are durable."""
        self.commit.flush(dirty)

    def when_durable(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the changes made so far are on disk (at once in low-wear)."""
        self.commit.when_durable(callback)

    async def drain(self) -> None:
        """Commit everything so far and write all held output."""
        await self.commit.drain()

    async def close(self) -> None:
        """Final commit; the file is left checkpointed and closed."""
        if self._sys is not None:
            self._sys.remove_source(self.sys_values)
        await self.commit.close()

    def bytes_written(self) -> int | None:
        """Bytes written to the store's files since the broker started (Linux)."""
        return self.commit.bytes_written()
