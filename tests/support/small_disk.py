"""A real small file system that tests fill up and free again: a tmpfs of a few megabytes.

Full-disk behaviour is tested on a file system that is really full (ENOSPC from the
kernel, SQLite's "database or disk is full"), not on a mocked ``write``. Needs root, as CI
is: mounting fails (never skips) otherwise.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

_CHUNK = 64 * 1024


class SmallDisk:
    """A tmpfs of ``size`` (mount's syntax: "2m") at ``path``; a context manager."""

    def __init__(self, path: Path, size: str = "2m") -> None:
        self.path = path
        self.size = size
        self.filler = path / "filler"
        self._mounted = False

    def __enter__(self) -> SmallDisk:
        self.path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size},mode=0755", "tmpfs",
                        str(self.path)], check=True, capture_output=True)
        self._mounted = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._mounted:
            # Lazy: a file a failed test left open must not leave the mount behind.
            subprocess.run(["umount", "-l", str(self.path)], check=True)
            self._mounted = False

    def fill(self) -> None:
        """Write until the kernel says ENOSPC (to the last page)."""
        with open(self.filler, "ab", buffering=0) as fh:
            for chunk in (_CHUNK, 4096, 1):
                block = b"\0" * chunk
                while True:
                    try:
                        fh.write(block)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
        assert self.free_bytes() < 4096

    def free(self) -> None:
        """Give the space back."""
        self.filler.unlink(missing_ok=True)

    def free_bytes(self) -> int:
        """Bytes available on the file system now."""
        stat = os.statvfs(self.path)
        return stat.f_bavail * stat.f_frsize
