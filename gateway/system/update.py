"""Installing a system update: check the bundle, let RAUC write it into the other slot,
record what was installed (``update-pending.json``) and reboot into it on trial.

Files in the data directory (kept across slots: the data partition):

- ``update-pending.json``: ``from``, ``to`` (versions), ``slot`` (bootname of the slot
  written), ``at`` (Unix time); also ``from_slot`` and ``boot_id`` (the boot that installed
  it, so a later boot of the old slot is known to be a rollback, not the reboot to come).
- ``update-progress.json``: the install running now (``progress``, ``message``), or the
  last install that failed (``state`` "failed" and why).
- ``update.lock``: held (flock) while an install runs, by the CLI or the dashboard alike.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gateway import __version__
from gateway.system.update_download import download, is_url
from gateway.system.update_rauc import Rauc, UpdateError

PENDING_FILE = "update-pending.json"
PROGRESS_FILE = "update-progress.json"
LOCK_FILE = "update.lock"
#: The trial system's health check (health.py), for the status to say why it rolled back.
REPORT_FILE = "update-health.json"
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
REBOOT = ["systemctl", "reboot"]
#: On the image the gateway's own user may not reboot through logind (there is no polkit):
#: it leaves this file in its data directory, and root's sensor-gateway-reboot.path
#: (deploy/image/overlay) reboots cleanly.
REBOOT_REQUEST = "reboot-requested"
REBOOT_PATH_UNIT = Path("/etc/systemd/system/sensor-gateway-reboot.path")

Progress = Callable[[int, str], None]


@dataclass(frozen=True)
class Pending:
    """The update installed last (see the module docstring)."""

    from_version: str
    to_version: str
    slot: str
    at: float
    from_slot: str | None = None
    boot_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["from"] = data.pop("from_version")
        data["to"] = data.pop("to_version")
        return data


def current_boot_id() -> str:
    """The kernel's id of this boot (a new one at every boot)."""
    return BOOT_ID.read_text().strip()


def own_like_directory(path: Path) -> None:
    """Give a file root made to the data directory's owner: ``sudo gateway system update``
    must not leave files the gateway's own user cannot write or lock."""
    if os.geteuid() != 0:
        return
    directory = path.parent.stat()
    if directory.st_uid != 0:
        os.chown(path, directory.st_uid, directory.st_gid)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` atomically: a power cut leaves the old file or the new one."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as fh:
        fh.write(json.dumps(data) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    own_like_directory(tmp)
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    """``path``'s object, or None when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_pending(data_dir: Path) -> Pending | None:
    data = read_json(data_dir / PENDING_FILE)
    if data is None:
        return None
    try:
        return Pending(str(data["from"]), str(data["to"]), str(data["slot"]), float(data["at"]),
                       data.get("from_slot"), data.get("boot_id"))
    except (KeyError, TypeError, ValueError):
        return None


@contextlib.contextmanager
def update_lock(data_dir: Path, tries: int = 20) -> Iterator[None]:
    """Held while one install runs; a second one is refused, not queued. ``tries`` (50 ms
    apart) let an install past a status query that holds the lock for an instant."""
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        own_like_directory(data_dir / LOCK_FILE)
        for attempt in range(tries):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == tries - 1:
                    raise UpdateError("an update is already running") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock; a crashed install releases it too


def update_running(data_dir: Path) -> bool:
    """Whether an install holds the lock now (in this process or another)."""
    try:
        with update_lock(data_dir, tries=1):
            return False
    except UpdateError:
        return True
    except OSError:
        return False


class ProgressFile:
    """``update-progress.json``, written as RAUC reports its steps."""

    def __init__(self, data_dir: Path, also: Progress | None = None) -> None:
        self.path = data_dir / PROGRESS_FILE
        self.also = also
        self.started = time.time()

    def __call__(self, percent: int, message: str) -> None:
        write_json(self.path, {"state": "installing", "progress": percent, "message": message,
                               "at": self.started})
        if self.also is not None:
            self.also(percent, message)

    def failed(self, message: str) -> None:
        write_json(self.path, {"state": "failed", "progress": None, "message": message,
                               "at": time.time()})

    def done(self) -> None:
        self.path.unlink(missing_ok=True)


def install_update(source: str | Path, data_dir: Path, rauc: Rauc,
                   progress: Progress | None = None, *,
                   boot_id: Callable[[], str] = current_boot_id,
                   remove_source: bool = False, name: str | None = None) -> Pending:
    """Install the bundle at ``source`` (a file, or an http(s) URL downloaded into
    ``data_dir`` first) into the other slot and record it as pending. Raises UpdateError
    with the reason for the user (naming the bundle ``name``, default ``source``); the
    reason is kept for the status too. A downloaded bundle is removed afterwards, a file
    too with ``remove_source`` (a dashboard upload)."""
    rauc.require()
    data_dir.mkdir(parents=True, exist_ok=True)
    with update_lock(data_dir):
        report = ProgressFile(data_dir, progress)
        report(0, "Starting")
        fetched: Path | None = None
        bundle = Path(source)
        try:
            if is_url(str(source)):
                fetched = download(str(source), data_dir, report)
                bundle = fetched
            elif remove_source:
                fetched = bundle
            report(0, "Checking the bundle's signature")
            info = rauc.info(bundle)
            system = rauc.status()
            if info.compatible != system.compatible:
                raise UpdateError(f"{source} is an update for {info.compatible!r}, not for this "
                                  f"system ({system.compatible!r})")
            rauc.install(bundle, report)
            after = rauc.status()
            slot = after.primary
            if slot is None or slot == after.booted:
                raise UpdateError("RAUC installed the bundle but did not make the other slot "
                                  f"the next to boot (next: {slot})")
            pending = Pending(__version__, info.version or "unknown", slot, time.time(),
                              after.booted, boot_id())
            write_json(data_dir / PENDING_FILE, pending.as_json())
        except UpdateError as exc:
            # RAUC names the file it read: a download's or upload's is a temporary name.
            error = UpdateError(str(exc).replace(str(bundle), name or str(source)))
            report.failed(str(error))
            raise error from None
        finally:
            if fetched is not None:
                fetched.unlink(missing_ok=True)
        report.done()
        return pending


def reboot_command(data_dir: Path, path_unit: Path = REBOOT_PATH_UNIT) -> list[str]:
    """How this process restarts the machine: ``systemctl reboot`` as root or where the
    image's reboot request is not set up, else the request file in ``data_dir``."""
    if os.geteuid() == 0 or not path_unit.exists():
        return list(REBOOT)
    return ["touch", str(data_dir / REBOOT_REQUEST)]


def reboot(command: list[str] | None = None) -> None:
    """Restart into the new slot (``systemctl reboot``: the services stop cleanly)."""
    subprocess.run(command or REBOOT, check=True, timeout=120)
