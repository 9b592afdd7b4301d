"""Making a backup: each SQLite database through SQLite's online backup API (a consistent
copy while the broker and the dashboard keep writing), the other files as they are."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from gateway.system.archive import (
    FORMAT,
    FORMAT_VERSION,
    BackupError,
    Entry,
    Manifest,
    gateway_version,
    sha256_of,
    write_archive,
)
from gateway.system.contents import Part


def make_backup(parts: list[Part], out: Path, root: Path = Path("/")) -> Manifest:
    """Write a backup of ``parts`` to ``out``, replacing it only once complete. Paths are
    saved as seen from ``root`` (another system's root directory, e.g. a mounted card)."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".backup-") as tmp:
        staging = Path(tmp)
        files: list[tuple[Entry, Path]] = []
        for index, part in enumerate(parts):
            staged = staging / str(index)
            try:
                (_copy_sqlite if part.sqlite else _copy_file)(part.path, staged)
                mode = part.path.stat().st_mode & 0o777
            except (OSError, sqlite3.Error) as exc:
                raise BackupError(f"cannot read {part.role} {part.path}: {exc}") from None
            saved = "/" + str(part.path.relative_to(root.resolve()))
            files.append((Entry(member=f"files/{index}", path=saved, role=part.role,
                                mode=mode, size=staged.stat().st_size,
                                sha256=sha256_of(staged), sqlite=part.sqlite), staged))
        manifest = Manifest(FORMAT, FORMAT_VERSION, gateway_version(),
                            datetime.now(UTC).isoformat(timespec="seconds"),
                            socket.gethostname(), tuple(e for e, _ in files))
        partial = staging / "backup.partial"
        try:
            write_archive(partial, manifest, files)
            with partial.open("rb") as fh:
                os.fsync(fh.fileno())
            os.replace(partial, out)
        except OSError as exc:
            raise BackupError(f"cannot write {out}: {exc.strerror or exc}") from None
    return manifest


def _copy_file(source: Path, dest: Path) -> None:
    shutil.copyfile(source, dest)


def _copy_sqlite(source: Path, dest: Path) -> None:
    # Read-only: the backup never writes to the live database; its WAL is read as SQLite
    # reads it, so committed transactions not yet checkpointed are in the copy.
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst)
            # One self-contained file: no WAL to carry along.
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        src.close()
