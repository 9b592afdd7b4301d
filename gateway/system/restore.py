"""Restoring a backup onto a system: checked completely first (checksums, version, every
SQLite database's integrity), then each file put in place atomically with private
permissions and the owner of the file or directory it replaces, so the service can still
write its databases."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Mapping
from pathlib import Path

from gateway.system.archive import BackupError, Manifest, read_archive
from gateway.system.contents import BOOT_CONFIG_ROLE


def restore_backup(backup: Path, root: Path = Path("/"),
                   moved: Mapping[str, Path] | None = None) -> Manifest:
    """Put every file of ``backup`` back where it was, under ``root`` (``/`` on the running
    system; first boot and tests pass another root); ``moved`` maps a saved path to where
    it goes instead. Nothing is written unless the whole file checks out. The gateway must
    not be running meanwhile."""
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=_staging_parent(root)) as tmp:
        manifest, extracted = _checked(backup, Path(tmp))
        for entry in manifest.entries:
            elsewhere = (moved or {}).get(entry.path)
            target = elsewhere or root / entry.path.lstrip("/")
            # The boot partition's file: FAT has no owners, and refuses modes other than
            # its mount's (EPERM).
            mode = None if elsewhere or entry.role == BOOT_CONFIG_ROLE else entry.mode
            try:
                _put(extracted[entry.member], target, mode, entry.sqlite)
            except OSError as exc:
                raise BackupError(f"cannot restore {target}: {exc.strerror or exc}") from None
    return manifest


def verify_backup(backup: Path) -> Manifest:
    """Check ``backup`` as a restore would, writing nothing but temporary files."""
    with tempfile.TemporaryDirectory(prefix=".verify-", dir=backup.parent) as tmp:
        return _checked(backup, Path(tmp))[0]


def _checked(backup: Path, staging: Path) -> tuple[Manifest, dict[str, Path]]:
    manifest, extracted = read_archive(backup, staging)
    for entry in manifest.entries:
        if entry.sqlite:
            _check_database(extracted[entry.member], f"{backup}: {entry.role}")
    return manifest, extracted


def _staging_parent(root: Path) -> Path:
    """A directory on the root's file system when possible (a rename then moves files)."""
    for candidate in (root / "var/tmp", root / "tmp"):
        if candidate.is_dir() and os.access(candidate, os.W_OK):
            return candidate
    return Path(tempfile.gettempdir())


def _check_database(path: Path, what: str) -> None:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = db.execute("PRAGMA integrity_check").fetchone()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise BackupError(f"{what} is damaged: {exc}") from None
    if result is None or result[0] != "ok":
        raise BackupError(f"{what} is damaged: {result[0] if result else 'no answer'}")


def _put(source: Path, target: Path, mode: int | None, sqlite: bool) -> None:
    """Replace ``target`` by ``source`` atomically; ``mode`` None leaves permissions and
    owner to the file system."""
    parent = target.parent
    if not parent.is_dir():
        parent.mkdir(parents=True, mode=0o750)
    owner = target if target.exists() else parent
    st = owner.stat()
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            shutil.copyfileobj(src, out)
            out.flush()
            os.fsync(out.fileno())
        if mode is not None:
            # Never more open than it was, and never readable by others: keys and hashes.
            os.chmod(tmp, mode & 0o770)
            if os.geteuid() == 0:
                os.chown(tmp, st.st_uid, st.st_gid)
        if sqlite:
            # The old database's WAL would be replayed into the restored one.
            for suffix in ("-wal", "-shm", "-journal"):
                target.with_name(target.name + suffix).unlink(missing_ok=True)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
