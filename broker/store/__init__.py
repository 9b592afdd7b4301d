"""Durable broker state on an SD card: SQLite in WAL mode, group commit, crash recovery.

The engine stays free of I/O: it calls the hooks of :class:`~.journal.Journal` (as
``engine.store``); :class:`~.commit.GroupCommit` turns them into one transaction per loop
turn and holds acknowledgements back until it is durable.
"""

from .persistence import FILE_NAME, MODES, Persistence

__all__ = ["FILE_NAME", "MODES", "Persistence"]
