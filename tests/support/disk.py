"""A full disk for fault tests: a small tmpfs of the test's own, filled and freed at will.

A real file system running out of space is what an SD card does, and it is what SQLite and
every other writer actually meet (ENOSPC from write(2), SQLITE_FULL), which no mock
reproduces faithfully. Needs root, as CI is: ``SmallDisk.mounted`` fails (never skips) when
it cannot mount, so a full-disk test can not pass by not running.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

_CHUNK = b"\0" * 65536


class SmallDisk:
    """A mounted tmpfs at ``path``; :meth:`fill` takes every free byte, :meth:`free` gives
    them back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._filler = path / ".filler"

    @classmethod
    @contextlib.contextmanager
    def mounted(cls, path: Path, size: str = "4m") -> Iterator[SmallDisk]:
        """Mount a tmpfs of ``size`` at ``path`` for the duration of the block."""
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            check=True,
            capture_output=True,
            text=True,
        )
        try:
            yield cls(path)
        finally:
            # Lazy: a broker the test left running must not make the unmount fail the test.
            subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)

    def fill(self) -> None:
        """Write until the file system says ENOSPC: from now on nothing more fits."""
        fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while True:
                os.write(fd, _CHUNK)  # a short write near the end, then ENOSPC
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
        finally:
            os.close(fd)

    def free(self) -> None:
        """Remove what :meth:`fill` wrote."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._filler)

    def available(self) -> int:
        """Bytes free for an unprivileged writer."""
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize
