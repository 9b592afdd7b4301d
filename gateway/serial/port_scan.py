"""Finding serial ports that may have a node on them.

/dev/serial/by-id names stay the same when a node is replugged into another USB socket, so
they are preferred; /dev/ttyUSB* (CP2102, CH340 adapters of NodeMCU and D1 mini boards) and
/dev/ttyACM* cover systems without udev's by-id links. The same device under two names is
returned once, by its first name in pattern order.
"""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Iterable, Sequence

DEFAULT_PATTERNS: tuple[str, ...] = ("/dev/serial/by-id/*", "/dev/ttyUSB*", "/dev/ttyACM*")


def device_key(path: str) -> str:
    """The device behind ``path`` (symlinks resolved), to spot one device under two names."""
    return os.path.realpath(path)


def find_ports(
    patterns: Sequence[str] = DEFAULT_PATTERNS, exclude: Iterable[str] = ()
) -> list[str]:
    """Existing ports matching ``patterns``, minus those matching an ``exclude`` pattern.

    An exclude pattern is matched against both the name found and the device it resolves
    to, so excluding "/dev/ttyACM0" also excludes its by-id link.
    """
    excluded = tuple(exclude)
    seen: set[str] = set()
    found: list[str] = []
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            key = device_key(path)
            if key in seen or not os.path.exists(key):
                continue
            if any(fnmatch.fnmatch(path, x) or fnmatch.fnmatch(key, x) for x in excluded):
                continue
            seen.add(key)
            found.append(path)
    return found
