"""Bytes written to disk by one thread, from Linux's per-thread I/O accounting.

The store's writer thread is the only thread that writes its files, so its ``wchar``
counter (bytes handed to write(2) and friends) is exactly what SQLite wrote: WAL frames,
checkpoints into the main file, and headers. That is the figure that wears an SD card.
"""

from __future__ import annotations

import os


def thread_bytes_written(tid: int) -> int | None:
    """``wchar`` of thread ``tid`` of this process, or None where /proc does not say."""
    try:
        with open(f"/proc/{os.getpid()}/task/{tid}/io") as f:
            for line in f:
                if line.startswith("wchar:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None
