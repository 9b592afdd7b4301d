"""What /proc says about a broker process: resident memory, CPU time, loaded libraries."""

from __future__ import annotations

import os

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise ProcessLookupError(f"process {pid} has no VmRSS (a zombie?)")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` (all its threads) in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        # The command name may hold spaces and parentheses; the fields follow the last ')'.
        fields = f.read().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLOCK_TICKS


def has_mapped(pid: int, fragment: str) -> bool:
    """Whether a file whose path contains ``fragment`` is mapped into ``pid``
    (how we tell from outside that a broker really runs on uvloop)."""
    with open(f"/proc/{pid}/maps") as f:
        return any(fragment in line for line in f)
