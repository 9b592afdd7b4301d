"""The `out` backlog of a bridge: messages for the upstream, in order, bounded by bytes.

While the upstream is connected the backlog lives in memory (a message usually stays there
for one round trip). When the link drops, everything in it is written to a small SQLite
file, and so is every message that arrives until the link is back: a broker restart (or a
power cut) in between loses none of them. When the backlog would exceed its byte bound,
the oldest messages are dropped and counted.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import deque
from pathlib import Path

from ..store.private import private_dir, private_file
from ..store.records import props_blob, props_from_blob

log = logging.getLogger("broker.bridge")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS backlog (
    seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL,
    qos INTEGER NOT NULL, retain INTEGER NOT NULL, props BLOB
)
"""


class Queued:
    """One message waiting for (or in flight to) the upstream."""

    __slots__ = ("topic", "payload", "qos", "retain", "properties", "seq", "acked")

    def __init__(
        self, topic: str, payload: bytes, qos: int, retain: bool, properties: dict
    ) -> None:
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
        self.seq: int | None = None  # row in the file, once written there
        self.acked = False

    @property
    def size(self) -> int:
        return len(self.topic) + len(self.payload)


class Backlog:
    """Ordered messages for the upstream; ``path`` None keeps them in memory only."""

    def __init__(self, max_bytes: int, path: Path | None = None) -> None:
        self.max_bytes = max_bytes
        self.items: deque[Queued] = deque()
        self.bytes = 0
        self.dropped = 0
        #: How many of the oldest items were sent on the current connection (in flight).
        self.sent = 0
        self._db: sqlite3.Connection | None = None
        self._next_seq = 1
        self._dirty = False
        if path is not None:
            self._open(path)

    def _open(self, path: Path) -> None:
        private_dir(path.parent)
        try:
            self._db = _connect(path)
            rows = self._db.execute("SELECT * FROM backlog ORDER BY seq").fetchall()
        except sqlite3.DatabaseError as exc:
            # A damaged backlog is not worth refusing to start over: set it aside.
            aside = path.with_name(path.name + ".damaged")
            log.warning("bridge backlog %s unreadable (%s); moved to %s", path, exc, aside)
            if self._db is not None:
                self._db.close()
            path.replace(aside)
            self._db = _connect(path)
            rows = []
        for seq, topic, payload, qos, retain, props in rows:
            item = Queued(topic, bytes(payload), qos, bool(retain), props_from_blob(props))
            item.seq = seq
            self.items.append(item)
            self.bytes += item.size
            self._next_seq = seq + 1

    def __len__(self) -> int:
        return len(self.items)

    def push(self, item: Queued, durable: bool) -> None:
        """Append ``item``; ``durable`` writes it to the file (the link is down)."""
        self.items.append(item)
        self.bytes += item.size
        if durable:
            self._write([item])
        while self.bytes > self.max_bytes and len(self.items) > 1:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        old = self.items.popleft()
        self.bytes -= old.size
        if self.sent:
            self.sent -= 1
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 1000 == 0:
            log.warning("bridge backlog full (%d bytes): %d oldest messages dropped so far",
                        self.max_bytes, self.dropped)
        self._forget(old)

    def persist_all(self) -> None:
        """Write every message still only in memory (the link just went down)."""
        self._write([item for item in self.items if item.seq is None])

    def acked(self, item: Queued) -> None:
        """The upstream acknowledged ``item``: drop it and every acknowledged one before it."""
        item.acked = True
        items = self.items
        while items and items[0].acked:
            done = items.popleft()
            self.bytes -= done.size
            if self.sent:
                self.sent -= 1
            self._forget(done)

    def _write(self, items: list[Queued]) -> None:
        if self._db is None or not items:
            return
        rows = []
        for item in items:
            item.seq = self._next_seq
            self._next_seq += 1
            rows.append(
                (item.seq, item.topic, item.payload, item.qos, int(item.retain),
                 props_blob(item.properties))
            )
        self._db.executemany("INSERT INTO backlog VALUES (?, ?, ?, ?, ?, ?)", rows)
        self._dirty = True

    def _forget(self, item: Queued) -> None:
        if self._db is not None and item.seq is not None:
            self._db.execute("DELETE FROM backlog WHERE seq = ?", (item.seq,))
            self._dirty = True

    def commit(self) -> None:
        """Make the writes so far durable (one transaction for the whole loop turn)."""
        if self._db is not None and self._dirty:
            self._dirty = False
            try:
                self._db.commit()
            except sqlite3.Error as exc:
                log.error("bridge backlog commit failed: %s", exc)

    def close(self) -> None:
        if self._db is not None:
            self.commit()
            self._db.close()
            self._db = None


def _connect(path: Path) -> sqlite3.Connection:
    private_file(path)  # messages on their way upstream: not for other local accounts
    db = sqlite3.connect(str(path))
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(_SCHEMA)
    db.commit()
    return db
