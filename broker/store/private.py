"""Files only the service's own user may read: databases holding messages and sessions.

Whatever umask the process inherited (systemd's 0022, a shell's 0002), a directory we create
is 0700 and a database file 0600, as Mosquitto does since CVE-2017-9868. SQLite gives a
database's ``-wal`` and ``-shm`` files the database file's mode, so making the database file
private before SQLite opens it makes them private too.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> None:
    """Create ``path`` and its missing parents, each 0700. Existing ones are left alone (a
    directory we did not create, such as systemd's StateDirectory, has its own mode)."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # made by someone else meanwhile: not ours to change
        os.chmod(directory, DIR_MODE)  # mkdir's mode passes through the umask


def private_file(path: Path) -> None:
    """Make ``path`` an 0600 file (created empty if missing; SQLite accepts an empty file as
    a new database). An existing database and its side files are made 0600 too, so a store
    written by an older version stops being readable by every local account."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE))
    sides = (Path(f"{path}{suffix}") for suffix in _SIDE_FILES)
    for file in (path, *(side for side in sides if side.exists())):
        os.chmod(file, FILE_MODE)
