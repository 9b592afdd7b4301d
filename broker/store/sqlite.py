"""The SQLite file behind the store: schema, batched transactions, and reading it back.

One connection, used by one thread at a time: the loop thread while the broker starts (to
read the file), then only the store's writer thread. WAL mode keeps a commit to one
sequential append (plus an fsync with ``synchronous=FULL``), which suits SD cards.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from .private import private_file

#: 2: sessions keep the user they belong to (username, cert_cn, listener; see OWNER_COLUMNS).
SCHEMA_VERSION = 2

# Text-keyed tables are WITHOUT ROWID: one b-tree each, so an update writes fewer pages.
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS retained (
    topic TEXT PRIMARY KEY, payload BLOB NOT NULL, qos INTEGER NOT NULL,
    props BLOB, expires REAL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sessions (
    client_id TEXT PRIMARY KEY, expiry_interval INTEGER NOT NULL, expires REAL,
    will_topic TEXT, will_payload BLOB, will_qos INTEGER, will_retain INTEGER, will_props BLOB,
    will_at REAL, username TEXT, cert_cn TEXT, listener TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS subscriptions (
    client_id TEXT NOT NULL, topic_filter TEXT NOT NULL, options INTEGER NOT NULL,
    identifier INTEGER, PRIMARY KEY (client_id, topic_filter)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY, client_id TEXT NOT NULL, packet_id INTEGER,
    released INTEGER NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL, sub_ids TEXT,
    topic TEXT, payload BLOB, props BLOB, expires REAL
);
CREATE TABLE IF NOT EXISTS incoming_qos2 (
    client_id TEXT NOT NULL, packet_id INTEGER NOT NULL, PRIMARY KEY (client_id, packet_id)
) WITHOUT ROWID;
"""

#: Columns version 2 added to ``sessions``, in order. A row whose ``listener`` is NULL was
#: written by version 1, which did not record the user: it is restored owned by nobody.
OWNER_COLUMNS = (("username", "TEXT"), ("cert_cn", "TEXT"), ("listener", "TEXT"))
SESSION_WIDTH = 9 + len(OWNER_COLUMNS)

#: Table name -> its key columns, in the order the loader expects rows.
TABLES: dict[str, tuple[str, ...]] = {
    "retained": ("topic",),
    "sessions": ("client_id",),
    "subscriptions": ("client_id", "topic_filter"),
    "deliveries": ("seq",),
    "incoming_qos2": ("client_id", "packet_id"),
}

UPSERT_RETAINED = "INSERT OR REPLACE INTO retained VALUES (?, ?, ?, ?, ?)"
DELETE_RETAINED = "DELETE FROM retained WHERE topic = ?"
UPSERT_SESSION = "INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
DELETE_SESSION = "DELETE FROM sessions WHERE client_id = ?"
DELETE_SESSION_SUBS = "DELETE FROM subscriptions WHERE client_id = ?"
DELETE_SESSION_INCOMING = "DELETE FROM incoming_qos2 WHERE client_id = ?"
UPSERT_SUBSCRIPTION = "INSERT OR REPLACE INTO subscriptions VALUES (?, ?, ?, ?)"
DELETE_SUBSCRIPTION = "DELETE FROM subscriptions WHERE client_id = ? AND topic_filter = ?"
INSERT_DELIVERY = "INSERT OR REPLACE INTO deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
SET_PACKET_ID = "UPDATE deliveries SET packet_id = ? WHERE seq = ?"
SET_RELEASED = (
    "UPDATE deliveries SET released = 1, topic = NULL, payload = NULL, props = NULL WHERE seq = ?"
)
DELETE_DELIVERY = "DELETE FROM deliveries WHERE seq = ?"
INSERT_INCOMING = "INSERT OR REPLACE INTO incoming_qos2 VALUES (?, ?)"
DELETE_INCOMING = "DELETE FROM incoming_qos2 WHERE client_id = ? AND packet_id = ?"

#: Statements grouped for one transaction: (sql, rows) pairs, applied in order.
Batch = list[tuple[str, list[tuple]]]


def session_row(row: tuple) -> tuple:
    """A ``sessions`` row at the current width (a version 1 row gets no owner)."""
    return (*row, *(None,) * (SESSION_WIDTH - len(row))) if len(row) < SESSION_WIDTH else row


@dataclass
class Snapshot:
    """Every row of the store, as read at startup (or salvaged from a damaged file)."""

    retained: list[tuple] = field(default_factory=list)
    sessions: list[tuple] = field(default_factory=list)
    subscriptions: list[tuple] = field(default_factory=list)
    deliveries: list[tuple] = field(default_factory=list)
    incoming_qos2: list[tuple] = field(default_factory=list)
    #: Rows saved from a damaged file (which recovery has already reported).
    salvaged: bool = False

    def summary(self) -> str:
        """Counts for a log line."""
        return (
            f"{len(self.retained)} retained messages, {len(self.sessions)} sessions, "
            f"{len(self.subscriptions)} subscriptions, {len(self.deliveries)} queued messages"
        )


#: A write that changes nothing: tells whether the file can be written (see GroupCommit).
PROBE: Batch = [
    ("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [(str(SCHEMA_VERSION),)])
]


class SqliteFile:
    """The store's database file.

    ``open_now`` False leaves it closed (the disk cannot take its WAL files yet): the first
    :meth:`stage` opens it, and raises while that is still impossible.
    """

    def __init__(self, path: Path, durable: bool = True, open_now: bool = True) -> None:
        self.path = path
        self.durable = durable
        self.is_open = False
        if open_now:
            self.open()

    def open(self) -> None:
        """Connect and set the file up (WAL mode, schema)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        private_file(self.path)
        db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # FULL: every commit's WAL append is fsynced, so an acknowledged message survives
            # a power cut, not only a crash. NORMAL syncs at checkpoints only (low-wear).
            db.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'NORMAL'}")
            db.executescript(SCHEMA)
            _upgrade(db)
            db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        except BaseException:
            db.close()
            raise
        self.db = db
        self.is_open = True

    def quick_check(self) -> str:
        """SQLite's structural check: "ok" or the first problem it found."""
        row = self.db.execute("PRAGMA quick_check(1)").fetchone()
        return str(row[0]) if row else "no answer from quick_check"

    def read(self) -> Snapshot:
        """Every row, deliveries in the order they were queued."""
        return _read_all(self.db)

    def write(self, snap: Snapshot) -> int:
        """Insert a snapshot's rows into this (fresh) file, after salvage.

        Row by row: a salvaged row that breaks a constraint is skipped, not fatal. Returns
        how many were skipped.
        """
        db = self.db
        skipped = 0
        snap.sessions[:] = [session_row(r) for r in snap.sessions]
        db.execute("BEGIN")
        for statement, rows in (
            (UPSERT_RETAINED, snap.retained),
            (UPSERT_SESSION, snap.sessions),
            (UPSERT_SUBSCRIPTION, snap.subscriptions),
            (INSERT_DELIVERY, snap.deliveries),
            (INSERT_INCOMING, snap.incoming_qos2),
        ):
            kept = []
            for row in rows:
                try:
                    db.execute(statement, row)
                    kept.append(row)
                except sqlite3.Error:
                    skipped += 1
            rows[:] = kept
        db.execute("COMMIT")
        return skipped

    def apply(self, batch: Batch) -> None:
        """Run a batch of statements as one transaction (one WAL append, one fsync)."""
        self.stage(batch)
        self.commit()

    def stage(self, batch: Batch) -> None:
        """Open a transaction and run the batch's statements, without committing.

        Runs on the event loop's thread: the statements only touch SQLite's page cache
        (microseconds per row), and running them there spares the writer thread dozens of
        GIL handovers per batch. Only :meth:`commit`, the disk write, goes to the thread.
        """
        if not self.is_open:
            self.open()
        db = self.db
        if db.in_transaction:  # a failed COMMIT whose ROLLBACK failed too (a full disk)
            db.execute("ROLLBACK")
        db.execute("BEGIN")
        try:
            for sql, rows in batch:
                if rows:
                    db.executemany(sql, rows)
        except BaseException:
            self._rollback()
            raise

    def commit(self) -> None:
        """Commit the staged transaction: the WAL append and its fsync.

        On failure (SQLITE_FULL, SQLITE_IOERR) the transaction is rolled back and the error
        raised: the caller still has the batch and may stage it again.
        """
        try:
            self.db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        # The error that made us roll back is the one worth reporting, not this one.
        if self.db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")

    def checkpoint(self) -> None:
        """Fold the WAL back into the main file (on a clean shutdown)."""
        if self.is_open:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        if self.is_open:
            self.is_open = False
            self.db.close()


def read_untouched(path: Path) -> Snapshot:
    """Every row of a file that cannot be opened for writing, read without writing anything
    (no WAL or shared-memory file is created). Right only while its WAL holds nothing."""
    if not path.exists() or path.stat().st_size == 0:
        return Snapshot()
    uri = f"file:{quote(str(path))}?immutable=1"
    db = sqlite3.connect(uri, uri=True, isolation_level=None)
    try:
        return _read_all(db)
    finally:
        db.close()


def _read_all(db: sqlite3.Connection) -> Snapshot:
    snap = Snapshot()
    for table, keys in TABLES.items():
        order = ", ".join(keys)
        rows = db.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
        setattr(snap, table, rows)
    return snap


def _upgrade(db: sqlite3.Connection) -> None:
    """Bring a version 1 file up to date: its sessions gain the (empty) owner columns."""
    have = {row[1] for row in db.execute("PRAGMA table_info(sessions)")}
    for name, kind in OWNER_COLUMNS:
        if name not in have:
            db.execute(f"ALTER TABLE sessions ADD COLUMN {name} {kind}")
