"""Bundles that arrive over the network: a URL downloaded, or a dashboard upload, streamed
into the data directory (the only writable disk with room on the appliance) and never held
in memory; a full disk is reported as such and leaves no partial file behind."""

from __future__ import annotations

import errno
import http.client
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

from gateway.system.update_rauc import UpdateError

CHUNK = 1 << 16
#: Left free beside a bundle: the history, the broker's store and the logs keep writing.
RESERVE = 16 << 20

Progress = Callable[[int, str], None]


def is_url(source: str) -> bool:
    return urllib.parse.urlsplit(source).scheme in ("http", "https")


def free_bytes(directory: Path) -> int:
    stat = os.statvfs(directory)
    return stat.f_bavail * stat.f_frsize


def room_for(directory: Path) -> int:
    """How large a bundle may be in ``directory`` (its free space less the reserve)."""
    return max(0, free_bytes(directory) - RESERVE)


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def no_room(directory: Path, size: int | None) -> UpdateError:
    need = f"the bundle is {_mb(size)}, " if size is not None else ""
    return UpdateError(f"not enough space for the bundle in {directory}: {need}"
                       f"{_mb(free_bytes(directory))} free, {_mb(RESERVE)} of it kept for the "
                       "gateway; free some space (or copy the bundle to a USB stick and give "
                       "its path)")


def store(chunks: Iterable[bytes], directory: Path, size: int | None,
          progress: Progress | None = None) -> Path:
    """Write ``chunks`` to a new file in ``directory``; ``size`` (if known) is checked
    against the free space first. Returns the file (the caller removes it)."""
    limit = room_for(directory)
    if size is not None and size > limit:
        raise no_room(directory, size)
    fd, name = tempfile.mkstemp(dir=directory, prefix=".bundle-", suffix=".raucb")
    path = Path(name)
    written, shown = 0, -1
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                written += len(chunk)
                if written > limit:  # longer than announced, or not announced
                    raise no_room(directory, size)
                out.write(chunk)
                percent = written * 100 // size if size else -1
                if progress is not None and percent != shown:  # at most 101 reports
                    shown = percent
                    progress(percent, f"Downloading {_mb(written)} of {_mb(size or 0)}")
    except UpdateError:
        path.unlink(missing_ok=True)
        raise
    except OSError as exc:
        path.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise no_room(directory, size) from None
        raise UpdateError(f"cannot keep the bundle in {directory}: {exc.strerror}") from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def download(url: str, directory: Path, progress: Progress | None = None,
             timeout: float = 60.0) -> Path:
    """Fetch the bundle at ``url`` (http or https) into ``directory``."""
    if not is_url(url):
        raise UpdateError(f"{url} is not an http:// or https:// address")
    try:
        response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 (scheme checked)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UpdateError(f"cannot download {url}: {reason}") from None
    with response:
        length = response.headers.get("Content-Length")
        size = int(length) if length and length.isdigit() else None

        def chunks() -> Iterable[bytes]:
            try:
                while block := response.read(CHUNK):
                    yield block
            except (OSError, http.client.HTTPException) as exc:
                raise UpdateError(f"the download of {url} broke off: {exc}") from None

        return store(chunks(), directory, size, progress)
