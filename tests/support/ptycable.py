"""A serial cable for tests: a pseudo-terminal whose device end has a stable name.

The bridge opens ``path`` (a symlink, as /dev/serial/by-id names are); the test plays the
node on the master end. ``unplug()`` closes the master and removes the name, as pulling a
USB adapter does; ``plug()`` makes a fresh pty under the same name.
"""

from __future__ import annotations

import asyncio
import os
import time
import tty
from pathlib import Path


class PtyCable:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.master = -1
        self._slave = -1
        self.plug()

    def plug(self) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo or newline translation before the bridge opens it
        tty.setraw(self.master)
        os.set_blocking(self.master, False)
        if self.path.is_symlink():
            self.path.unlink()
        self.path.symlink_to(os.ttyname(self._slave))

    def unplug(self) -> None:
        if self.path.is_symlink():
            self.path.unlink()
        self._close_fds()

    def _close_fds(self) -> None:
        for fd in (self.master, self._slave):
            if fd >= 0:
                os.close(fd)
        self.master = self._slave = -1

    def close(self) -> None:
        self.unplug()

    async def write(self, data: bytes) -> None:
        """Writes all of ``data`` from the node's end, yielding to the loop (and so to the
        bridge reading the other end) while the pty buffer is full."""
        view = memoryview(data)
        deadline = time.monotonic() + 60
        while view:
            try:
                n = os.write(self.master, view)
                view = view[n:]
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError("pty buffer stayed full") from None
                await asyncio.sleep(0.005)

    def read(self) -> bytes:
        """What the bridge sent so far (never blocks)."""
        chunks = []
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except (BlockingIOError, OSError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
