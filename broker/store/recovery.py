"""Opening the store file, and starting anyway when it is damaged.

A Pi that loses power mid-write can leave a file SQLite no longer accepts (or one that a
bad SD card truncated). The broker must still start: we read whatever rows can be read,
move the damaged file (and its WAL) aside for a post-mortem, write the rows into a fresh
file, and say so in one log line.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path

from .private import private_dir
from .sqlite import TABLES, Snapshot, SqliteFile

log = logging.getLogger("broker.store")

_SIDE_FILES = ("-wal", "-shm")


def open_store(path: Path, durable: bool = True) -> tuple[SqliteFile, Snapshot]:
    """Open (or create) the store at ``path`` and read it; salvage a damaged file."""
    private_dir(path.parent)
    problem: str | None = None
    if path.exists():
        db = None
        try:
            db = SqliteFile(path, durable)
            check = db.quick_check()
            if check == "ok":
                return db, db.read()
            problem = check
        except sqlite3.DatabaseError as exc:
            problem = str(exc)
        finally:
            if problem is not None and db is not None:
                db.close()
    else:
        db = SqliteFile(path, durable)
        return db, Snapshot()
    try:
        snap = salvage(path)
    except Exception:  # salvage is best effort; never a reason not to start
        snap = Snapshot()
    snap.salvaged = True
    aside = move_aside(path)
    db = SqliteFile(path, durable)
    db.write(snap)
    log.warning(
        "store %s was damaged (%s); kept %s; the damaged file is now %s",
        path,
        problem,
        snap.summary(),
        aside,
    )
    return db, snap


def salvage(path: Path) -> Snapshot:
    """Every row that can still be read from a damaged file, table by table.

    A broken page stops a scan where it sits; scanning again from the other end of the key
    order recovers the rows behind it.
    """
    snap = Snapshot()
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error:
        return snap
    try:
        for table, keys in TABLES.items():
            setattr(snap, table, _salvage_table(db, table, keys))
    finally:
        db.close()
    return snap


def _salvage_table(db: sqlite3.Connection, table: str, keys: tuple[str, ...]) -> list[tuple]:
    rows: dict[tuple, tuple] = {}
    width = len(keys)
    for direction in ("ASC", "DESC"):
        order = ", ".join(f"{k} {direction}" for k in keys)
        try:
            for row in db.execute(f"SELECT * FROM {table} ORDER BY {order}"):
                rows.setdefault(tuple(row[:width]), row)
        except sqlite3.Error:
            continue
    return [rows[k] for k in sorted(rows, key=_sort_key)]


def _sort_key(key: tuple) -> tuple:
    # Keys are all ints or all strings per table; str() keeps mixed damage from raising.
    return tuple((0, k) if isinstance(k, int) else (1, str(k)) for k in key)


def move_aside(path: Path) -> Path:
    """Rename the damaged file (and its -wal/-shm) to ``<name>.damaged-<UTC time>``."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    os.replace(path, target)
    for suffix in _SIDE_FILES:
        side = Path(str(path) + suffix)
        if side.exists():
            os.replace(side, Path(str(target) + suffix))
    return target
