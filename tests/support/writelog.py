"""The write log of a real run: build the LD_PRELOAD recorder, run under it, read its log.

``writelog.c`` (beside this file) is compiled into a temporary directory by the test that
uses it. A process started with :func:`environment` logs every write, truncate, sync,
unlink and rename it makes under one directory, with the data, in the order they took
effect (see the C file). :func:`read_log` turns the log into :class:`Record` objects;
a record's ``end`` is its byte position in the log, the clock that acknowledgements
observed in the test are stamped with (:func:`position`).
"""

from __future__ import annotations

import os
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

SOURCE = Path(__file__).with_name("writelog.c")

OPEN, WRITE, TRUNCATE, SYNC, UNLINK, RENAME, SYNCALL = range(1, 8)
NAMES = {OPEN: "open", WRITE: "write", TRUNCATE: "truncate", SYNC: "sync",
         UNLINK: "unlink", RENAME: "rename", SYNCALL: "syncall"}

_HEADER = struct.Struct("<IIQQQ")


@dataclass(frozen=True)
class Record:
    """One logged call. ``path`` for OPEN/UNLINK (RENAME: ``path`` -> ``target``)."""

    op: int
    ino: int
    off: int
    data: bytes
    path: str
    target: str
    end: int  # log position just after this record

    def __repr__(self) -> str:
        what = NAMES.get(self.op, str(self.op))
        return f"<{what} ino={self.ino} off={self.off} len={len(self.data)} {self.path}>"


def build(into: Path) -> Path:
    """Compile the recorder into ``into``; returns the shared object's path."""
    lib = into / "writelog.so"
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O2", "-Wall", "-o", str(lib), str(SOURCE),
         "-ldl", "-lpthread"],
        check=True, capture_output=True,
    )
    return lib


def environment(lib: Path, watch: Path, log: Path, lie: bool = False) -> dict[str, str]:
    """Environment variables that make a child process record its writes under ``watch``."""
    env = {
        "LD_PRELOAD": str(lib),
        "WRITELOG_DIR": str(watch.resolve()),
        "WRITELOG_FILE": str(log.resolve()),
    }
    if lie:
        env["WRITELOG_LIE"] = "1"
    return env


def position(log: Path) -> int:
    """How far the log has grown: every record before this position has taken effect."""
    try:
        return os.stat(log).st_size
    except FileNotFoundError:
        return 0


def read_log(log: Path) -> list[Record]:
    """Every complete record of the log, in order."""
    raw = log.read_bytes()
    out: list[Record] = []
    pos = 0
    size = _HEADER.size
    while pos + size <= len(raw):
        op, pathlen, ino, off, length = _HEADER.unpack_from(raw, pos)
        start = pos + size
        end = start + pathlen + length
        if end > len(raw):
            break  # the writer was killed mid-record (cannot happen: one write per record)
        path = raw[start:start + pathlen].decode(errors="surrogateescape")
        data = raw[start + pathlen:end]
        target = ""
        if op == RENAME:
            path, target = path[:off], path[off:]
        out.append(Record(op, ino, off, bytes(data), path, target, end))
        pos = end
    return out
