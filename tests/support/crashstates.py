"""What a power cut can leave on disk, at any point of a recorded run.

The model, the one file-system developers test databases against (ALICE, dm-log-writes,
CrashMonkey), at file level:

* A file's data is durable up to its last completed fsync/fdatasync. Writes after it may
  be lost, present, or present in part: each 512-byte sector independently holds its
  content as of the last sync or as of any later write that touched it (the page cache
  writes pages back in any order, a device tears a write at sector boundaries), and the
  file's length is its length at any moment since the sync, so a file extended without a
  sync may end in zeros.
* Names (create, unlink, rename) are journaled in order, as ext4 does: every completed
  sync of any file commits the ones before it; of the later ones a prefix survives.
* ``-shm`` files are SQLite's shared memory, not data: a cut leaves them missing or
  full of garbage (SQLite rebuilds them when the first connection opens).

:func:`choose_cuts` picks cut points (every sync boundary first, then random points) and
a way each one tears the un-synced writes; :func:`states` replays the log once, in order,
and yields the files each cut leaves.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .writelog import OPEN, RENAME, SYNC, SYNCALL, TRUNCATE, UNLINK, WRITE, Record

SECTOR = 512

#: How a cut treats the writes since each file's last sync.
#: lost: none reached the disk; kept: all did (what kill -9 leaves); prefix: they reached
#: it in order up to a point, the last one torn at a sector boundary; sectors: every
#: sector as of a random moment since the sync, and the length too; mixed: each file its
#: own choice among these.
MODES = ("lost", "kept", "prefix", "sectors", "mixed")


@dataclass(frozen=True)
class Cut:
    """Power fails after the first ``at`` records of the log, tearing them as ``mode`` says."""

    at: int
    mode: str
    seed: int
    #: The log position the cut corresponds to (acknowledgements seen at or before it
    #: happened before the power failed).
    position: int = 0

    def __str__(self) -> str:
        return f"cut after record {self.at} (log byte {self.position}, {self.mode}, seed {self.seed})"


@dataclass
class _File:
    current: bytearray = field(default_factory=bytearray)
    durable: bytes = b""
    #: ("w", offset, data) and ("t", length) since the last sync, in order.
    pending: list[tuple] = field(default_factory=list)


def choose_cuts(records: list[Record], count: int, seed: int) -> list[Cut]:
    """``count`` cut points, sorted by position in the log, each with a mode.

    Three in four sit at a sync: just before it completes (every write since the last
    one is in doubt) or just after; spread evenly over the run when there are more syncs.
    The rest, and any left over, fall at random records.
    """
    rng = random.Random(seed)
    syncs = [i for i, r in enumerate(records) if r.op in (SYNC, SYNCALL)]
    boundaries = sorted({b for i in syncs for b in (i, i + 1)})
    at_syncs = min(len(boundaries), count - count // 4)
    step = len(boundaries) / at_syncs if at_syncs else 1
    picked = [boundaries[int(j * step)] for j in range(at_syncs)]
    picked += [rng.randint(0, len(records)) for _ in range(count - len(picked))]
    cuts = []
    for j, at in enumerate(sorted(picked)):
        mode = MODES[j % len(MODES)] if count >= len(MODES) else rng.choice(MODES)
        position = records[at - 1].end if at > 0 else 0
        cuts.append(Cut(at, mode, rng.randrange(1 << 30), position))
    return cuts


def states(records: list[Record], cuts: list[Cut], root: Path) -> Iterator[tuple[Cut, dict[str, bytes]]]:
    """For each cut (sorted by ``at``), the files it leaves under ``root``: name -> bytes."""
    replay = _Replay(root)
    done = 0
    for cut in sorted(cuts, key=lambda c: c.at):
        while done < cut.at:
            replay.apply(records[done])
            done += 1
        yield cut, replay.tear(random.Random(cut.seed), cut.mode)


def digest(files: dict[str, bytes]) -> str:
    """A fingerprint of a state, to skip states already checked."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return h.hexdigest()


def write_state(files: dict[str, bytes], into: Path) -> None:
    """Lay a state out in an (empty) directory."""
    into.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (into / name).write_bytes(data)


class _Replay:
    def __init__(self, root: Path) -> None:
        self.root = str(root.resolve()).rstrip("/") + "/"
        self.files: dict[int, _File] = {}
        self.by_ino: dict[int, int] = {}
        self.names: dict[str, int] = {}  # durable names
        self.name_ops: list[tuple] = []  # since the last sync
        self._next = 0

    def apply(self, rec: Record) -> None:
        op = rec.op
        if op == OPEN:
            if not rec.path.startswith(self.root):
                return  # the directory itself (opened to sync it)
            name = rec.path[len(self.root):]
            if rec.off == 1 or rec.ino not in self.by_ino:
                key = self._next
                self._next += 1
                self.files[key] = _File()
                self.by_ino[rec.ino] = key
                self.name_ops.append(("create", name, key))
        elif op == WRITE:
            f = self._file(rec.ino)
            if f is None:
                return
            end = rec.off + len(rec.data)
            if len(f.current) < end:
                f.current.extend(bytes(end - len(f.current)))
            f.current[rec.off:end] = rec.data
            f.pending.append(("w", rec.off, rec.data))
        elif op == TRUNCATE:
            f = self._file(rec.ino)
            if f is None:
                return
            if rec.off < len(f.current):
                del f.current[rec.off:]
            else:
                f.current.extend(bytes(rec.off - len(f.current)))
            f.pending.append(("t", rec.off))
        elif op == SYNC:
            f = self._file(rec.ino)
            if f is not None:
                f.durable = bytes(f.current)
                f.pending = []
            self._commit_names()
        elif op == SYNCALL:
            for f in self.files.values():
                f.durable = bytes(f.current)
                f.pending = []
            self._commit_names()
        elif op == UNLINK:
            if rec.path.startswith(self.root):
                self.name_ops.append(("unlink", rec.path[len(self.root):]))
        elif op == RENAME:
            a, b = rec.path, rec.target
            if a.startswith(self.root) and b.startswith(self.root):
                self.name_ops.append(("rename", a[len(self.root):], b[len(self.root):]))
            elif a.startswith(self.root):
                self.name_ops.append(("unlink", a[len(self.root):]))

    def _file(self, ino: int) -> _File | None:
        key = self.by_ino.get(ino)
        return None if key is None else self.files[key]

    def _commit_names(self) -> None:
        self.names = _apply_names(self.names, self.name_ops)
        self.name_ops = []

    def tear(self, rng: random.Random, mode: str) -> dict[str, bytes]:
        ops = self.name_ops
        if mode == "lost":
            kept = 0
        elif mode == "kept":
            kept = len(ops)
        else:
            kept = rng.randint(0, len(ops))
        names = _apply_names(self.names, ops[:kept])
        out: dict[str, bytes] = {}
        for name, key in sorted(names.items()):
            if name.endswith("-shm"):
                if rng.random() < 0.5:
                    out[name] = rng.randbytes(32768)
                continue
            f = self.files[key]
            file_mode = rng.choice(MODES[:-1]) if mode == "mixed" else mode
            out[name] = _tear_file(f, file_mode, rng)
        return out


def _apply_names(names: dict[str, int], ops: list[tuple]) -> dict[str, int]:
    out = dict(names)
    for op in ops:
        if op[0] == "create":
            out[op[1]] = op[2]
        elif op[0] == "unlink":
            out.pop(op[1], None)
        elif op[1] in out:
            out[op[2]] = out.pop(op[1])
    return out


def _tear_file(f: _File, mode: str, rng: random.Random) -> bytes:
    if not f.pending or mode == "lost":
        return f.durable
    if mode == "kept":
        return bytes(f.current)
    if mode == "prefix":
        return _prefix(f, rng)
    return _sectors(f, rng)


def _prefix(f: _File, rng: random.Random) -> bytes:
    """The pending operations in order up to a random one, that one torn at a sector."""
    data = bytearray(f.durable)
    upto = rng.randrange(len(f.pending))
    for i, op in enumerate(f.pending[: upto + 1]):
        if op[0] == "t":
            _truncate(data, op[1])
            continue
        _, off, chunk = op
        if i == upto:
            # Torn: only the sectors before a random sector boundary within the write.
            bounds = [b for b in range(off - off % SECTOR + SECTOR, off + len(chunk), SECTOR)]
            cut = rng.choice([off, *bounds, off + len(chunk)])
            chunk = chunk[: cut - off]
        _write(data, off, chunk)
    return bytes(data)


def _sectors(f: _File, rng: random.Random) -> bytes:
    """Every sector as of its own random moment since the sync; the length as of another."""
    sizes = [len(f.durable)]
    size = len(f.durable)
    touching: dict[int, list[int]] = {}
    for i, op in enumerate(f.pending):
        if op[0] == "t":
            size = op[1]
            for s in [s for s in touching if s * SECTOR + SECTOR > size]:
                touching[s].append(i)
        else:
            _, off, chunk = op
            end = off + len(chunk)
            size = max(size, end)
            for s in range(off // SECTOR, (end - 1) // SECTOR + 1):
                touching.setdefault(s, []).append(i)
        sizes.append(size)
    length = rng.choice(sizes)
    data = bytearray(f.durable)
    if len(data) < length:
        data.extend(bytes(length - len(data)))
    del data[length:]
    for s, indices in touching.items():
        base = s * SECTOR
        if base >= length:
            continue
        upto = rng.choice([-1, *indices])
        if upto < 0:
            continue  # as of the sync
        sector = bytearray(f.durable[base:base + SECTOR].ljust(SECTOR, b"\0"))
        for op in f.pending[: upto + 1]:
            if op[0] == "t":
                keep = max(0, min(SECTOR, op[1] - base))
                sector[keep:] = bytes(SECTOR - keep)
                continue
            _, off, chunk = op
            lo, hi = max(off, base), min(off + len(chunk), base + SECTOR)
            if lo < hi:
                sector[lo - base:hi - base] = chunk[lo - off:hi - off]
        end = min(base + SECTOR, length)
        data[base:end] = sector[: end - base]
    return bytes(data)


def _truncate(data: bytearray, length: int) -> None:
    if length < len(data):
        del data[length:]
    else:
        data.extend(bytes(length - len(data)))


def _write(data: bytearray, off: int, chunk: bytes) -> None:
    end = off + len(chunk)
    if len(data) < end:
        data.extend(bytes(end - len(data)))
    data[off:end] = chunk
