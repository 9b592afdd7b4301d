"""A real small file system that tests fill up and free again: a few megabytes of tmpfs,
or of ext4 on a loop device (what an SD card holds: there a full disk refuses even mkdir).

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
    """A file system of ``size`` (mount's syntax: "2m") at ``path``, ``kind`` "tmpfs" or
    "ext4" (an image file beside ``path``, without blocks reserved for root); a context
    manager."""

    def __init__(self, path: Path, size: str = "2m", kind: str = "tmpfs") -> None:
        self.path = path
        self.size = size
        self.kind = kind
        self.filler = path / "filler"
        self._mounted = False

    def __enter__(self) -> SmallDisk:
        self.path.mkdir(parents=True, exist_ok=True)
        if self.kind == "tmpfs":
            command = ["mount", "-t", "tmpfs", "-o", f"size={self.size},mode=0755", "tmpfs",
                       str(self.path)]
        else:
            image = self.path.with_name(self.path.name + ".img")
            subprocess.run(["truncate", "-s", self.size.upper(), str(image)], check=True)
            subprocess.run(["mkfs." + self.kind, "-q", "-m", "0", str(image)], check=True,
                           capture_output=True)
            command = ["mount", "-o", "loop", str(image), str(self.path)]
        subprocess.run(command, check=True, capture_output=True)
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
