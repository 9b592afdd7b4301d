"""The backup file: a gzip-compressed tar holding ``manifest.json`` and one member per file.

The manifest names the format version, the gateway version that wrote it, and for every
member where it belongs, its mode and its SHA-256. Reading a backup checks everything before
anything is used: a damaged, truncated or tampered file, or one from a newer gateway, is
refused with a message that says which.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import time
import zlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO

FORMAT = "sensor-gateway-backup"
#: Raised when the layout changes in a way an older gateway could not restore.
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_MEMBER = re.compile(r"^files/[0-9]{1,4}$")
#: A bigger manifest is not one we wrote.
_MAX_MANIFEST = 1 << 20


class BackupError(Exception):
    """A backup that cannot be made or restored; the message is for the user."""


@dataclass(frozen=True)
class Entry:
    """One file in the backup."""

    member: str
    path: str     # absolute path on the gateway it was taken from
    role: str
    mode: int
    size: int
    sha256: str
    sqlite: bool = False


@dataclass(frozen=True)
class Manifest:
    format: str
    format_version: int
    gateway_version: str
    created: str
    hostname: str
    entries: tuple[Entry, ...]

    def to_json(self) -> bytes:
        doc = asdict(self)
        doc["entries"] = [asdict(e) for e in self.entries]
        return json.dumps(doc, indent=1).encode()


def gateway_version() -> str:
    """The installed gateway's version."""
    try:
        return metadata.version("sensor-gateway")
    except metadata.PackageNotFoundError:
        return "0"


def version_key(version: str) -> tuple[int, ...]:
    """``0.10.2rc1`` -> (0, 10, 2): enough to tell older from newer releases."""
    return tuple(int(m) for m in re.findall(r"\d+", version.split("+")[0].split("rc")[0])[:3])


def sha256_of(path: Path) -> str:
    with path.open("rb") as fh:
        return _copy_hashing(fh, None)


def _copy_hashing(source: BinaryIO, dest: BinaryIO | None) -> str:
    """Copy ``source`` to ``dest`` (when given); the SHA-256 of what was read."""
    digest = hashlib.sha256()
    while block := source.read(1 << 16):
        digest.update(block)
        if dest is not None:
            dest.write(block)
    return digest.hexdigest()


def write_archive(out: Path, manifest: Manifest, files: Iterable[tuple[Entry, Path]]) -> None:
    """Write the tar to ``out`` (mode 0600: it holds password hashes and private keys);
    ``files`` pairs each entry with the staged copy holding its content."""
    with open(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as raw:
        with tarfile.open(fileobj=raw, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
            _add_bytes(tar, MANIFEST, manifest.to_json())
            for entry, staged in files:
                info = tar.gettarinfo(str(staged), arcname=entry.member)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mode = 0o600
                with staged.open("rb") as fh:
                    tar.addfile(info, fh)
        raw.flush()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def read_archive(path: Path, staging: Path) -> tuple[Manifest, dict[str, Path]]:
    """Check ``path`` completely and extract its files into ``staging`` (an empty private
    directory); returns the manifest and each member's extracted copy."""
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            manifest = _read_manifest(tar)
            wanted = {e.member: e for e in manifest.entries}
            extracted: dict[str, Path] = {}
            for info in tar:
                if info.name == MANIFEST:
                    continue
                entry = wanted.get(info.name)
                if entry is None or not info.isfile() or info.name in extracted:
                    raise BackupError(f"{path}: unexpected member {info.name!r}: not a backup "
                                      "this gateway wrote")
                if info.size != entry.size:  # before writing anything of it
                    raise BackupError(f"{path} is damaged: {entry.path} has the wrong size")
                source = tar.extractfile(info)
                assert source is not None
                dest = staging / info.name.replace("/", "-")
                with dest.open("wb") as fh:
                    digest = _copy_hashing(source, fh)
                if digest != entry.sha256:
                    raise BackupError(f"{path} is damaged: {entry.path} does not match its "
                                      "checksum")
                extracted[info.name] = dest
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        if isinstance(exc, FileNotFoundError) and exc.filename == str(path):
            raise BackupError(f"{path}: no such file") from None
        raise BackupError(f"{path} is damaged or not a backup ({exc})") from None
    missing = [e.path for e in manifest.entries if e.member not in extracted]
    if missing:
        raise BackupError(f"{path} is damaged: {', '.join(missing)} missing")
    return manifest, extracted


def _read_manifest(tar: tarfile.TarFile) -> Manifest:
    first = tar.next()
    if first is None or first.name != MANIFEST or not first.isfile() or first.size > _MAX_MANIFEST:
        raise BackupError(f"{tar.name}: not a sensor-gateway backup (no manifest)")
    source = tar.extractfile(first)
    assert source is not None
    try:
        doc = json.loads(source.read())
    except (ValueError, UnicodeDecodeError):
        raise BackupError(f"{tar.name} is damaged: unreadable manifest") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise BackupError(f"{tar.name}: not a sensor-gateway backup")
    version = doc.get("gateway_version", "?")
    if not isinstance(doc.get("format_version"), int) or doc["format_version"] > FORMAT_VERSION \
            or version_key(str(version)) > version_key(gateway_version()):
        raise BackupError(f"{tar.name} was made by sensor-gateway {version}, newer than this "
                          f"one ({gateway_version()}): update this gateway first, then restore")
    try:
        entries = tuple(_entry(item) for item in doc["entries"])
        return Manifest(FORMAT, doc["format_version"], str(version), str(doc["created"]),
                        str(doc["hostname"]), entries)
    except (KeyError, TypeError, ValueError):
        raise BackupError(f"{tar.name} is damaged: unreadable manifest") from None


def _entry(item: dict[str, Any]) -> Entry:
    entry = Entry(member=str(item["member"]), path=str(item["path"]), role=str(item["role"]),
                  mode=int(item["mode"]), size=int(item["size"]), sha256=str(item["sha256"]),
                  sqlite=bool(item.get("sqlite", False)))
    # Where a file goes comes from the manifest: only absolute paths without '..', so a
    # crafted backup cannot write outside the root it is restored into.
    if not _MEMBER.match(entry.member) or not entry.path.startswith("/") \
            or ".." in Path(entry.path).parts:
        raise ValueError(entry.member)
    return entry
