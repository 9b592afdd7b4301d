"""Opening the store file, and starting anyway when it is damaged.

A Pi that loses power mid-write can leave a file SQLite no longer accepts (or one that a
bad SD card truncated). The broker must still start: we read whatever rows can be read,
move the damaged file (and its WAL) aside for a post-mortem, write the rows into a fresh
file, and say so in one log line.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from .private import private_dir
from .sqlite import TABLES, Snapshot, SqliteFile, read_untouched

log = logging.getLogger("broker.store")

_SIDE_FILES = ("-wal", "-shm")


def open_store(path: Path, durable: bool = True) -> tuple[SqliteFile, Snapshot]:
    """Open (or create) the store at ``path`` and read it; salvage a damaged file.

    On a disk that cannot take a write (full, or failing) the store is read without
    writing and returned unopened (``is_open`` False): the broker starts from what it
    holds, and the first commit that succeeds opens it.
    """
    created = not path.exists()
    try:
        private_dir(path.parent)
        return _open(path, durable)
    except (sqlite3.OperationalError, OSError) as exc:
        if not cannot_write(exc):
            raise
        if created:  # an empty file is no store: leave nothing behind (opened later)
            for file in (path, *(Path(f"{path}{suffix}") for suffix in _SIDE_FILES)):
                with contextlib.suppress(OSError):
                    if file.stat().st_size == 0:
                        file.unlink()
        return _open_later(path, durable, exc)


def cannot_write(exc: Exception) -> bool:
    """Whether an error says the disk refuses writes (full, read-only, I/O error), as
    opposed to a file that is damaged."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO)
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    return code in (_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN)


_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN = 8, 10, 13, 14


def _open_later(path: Path, durable: bool, exc: Exception) -> tuple[SqliteFile, Snapshot]:
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        snap = _read_copy(path, wal)  # what its WAL holds counts: it may be acknowledged
    else:
        snap = read_untouched(path)
    log.error(
        "store %s cannot be written (%s); started from what it holds (%s); QoS 1/2 messages "
        "are not acknowledged until it can be written",
        path,
        exc,
        snap.summary(),
    )
    return SqliteFile(path, durable, open_now=False), snap


def _read_copy(path: Path, wal: Path) -> Snapshot:
    """Read a file and its WAL from a copy in memory (/dev/shm): reading them in place would
    write a shared-memory index the full disk cannot take."""
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as tmp:
        copy = Path(tmp) / path.name
        shutil.copyfile(path, copy)
        shutil.copyfile(wal, Path(f"{copy}-wal"))
        db = SqliteFile(copy)
        try:
            return db.read()
        finally:
            db.close()


def _open(path: Path, durable: bool) -> tuple[SqliteFile, Snapshot]:
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
            if cannot_write(exc):  # a full disk is not a damaged file: never moved aside
                if db is not None:
                    db.close()
                raise
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
