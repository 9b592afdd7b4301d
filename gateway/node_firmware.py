"""The gateway's store of ESP8266 node firmware images (issue 15.2, docs/contracts.md "Node
firmware updates").

Images are files named ``node-<version>.bin`` in two kinds of directory:

* the gateway's own, ``<data_dir>/firmware``, where ``gateway node firmware add FILE``
  copies an image after checking that it looks like an ESP8266 application image;
* the shipped ones, where the package or the SD image puts the firmware built with it
  (``gateway/firmware`` inside the package, ``/usr/share/sensor-gateway/firmware``);
* for ``gateway node flash`` run from a source checkout, also the checkout's ``out/``,
  where ``make firmware`` writes ``node-<version>.bin`` (:func:`build_output_dirs`).

The newest version wins (a user-added image of the same version as a shipped one replaces
it). Digests are computed once per file and kept while its size and modification time stay
the same, so the serial chunk server may look an image up by MD5 for every 256-byte read.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: The first byte of an ESP8266 application image (esptool's ESP_IMAGE_MAGIC).
IMAGE_MAGIC = 0xE9
#: Smaller than this is not a sketch (the image header and bootloader stub alone take more).
MIN_IMAGE_SIZE = 4096
#: The largest sketch a 4 MB board with the update partition can take (1 MB OTA slot).
MAX_IMAGE_SIZE = 1024 * 1024
#: Versions as the node reports them: 0.4.0, 1.2.3-rc1; no path characters.
_VERSION = r"[0-9]+(?:\.[0-9]+){0,3}(?:[-+][0-9A-Za-z.]{1,20})?"
VERSION_RE = re.compile(rf"^{_VERSION}$")
IMAGE_NAME_RE = re.compile(rf"^node-({_VERSION})\.bin$")

SYSTEM_FIRMWARE_DIR = Path("/usr/share/sensor-gateway/firmware")
PACKAGE_FIRMWARE_DIR = Path(__file__).resolve().parent / "firmware"
#: A source checkout: the gateway package next to firmware/ and the out/ `make firmware` fills.
CHECKOUT_DIR = Path(__file__).resolve().parent.parent


class BadImage(ValueError):
    """A file that cannot be a node firmware image; the message says why."""


def image_name(version: str) -> str:
    """The file name of ``version``'s image: ``node-<version>.bin``."""
    return f"node-{version}.bin"


def version_key(version: str) -> tuple:
    """Sort key of a version: numerically by release, a pre-release (``-rc1``) before its
    release, as semantic versioning orders them."""
    release, sep, suffix = _split_version(version)
    numbers = tuple(int(part) for part in release.split("."))
    # "+build" metadata does not make a pre-release; "-rc1" does.
    return (numbers, 0 if sep == "-" else 1, suffix)


def _split_version(version: str) -> tuple[str, str, str]:
    match = re.match(r"^([0-9.]+)(?:([-+])(.*))?$", version)
    if match is None:
        raise BadImage(f"{version!r} is not a version such as 0.4.0")
    return match.group(1), match.group(2) or "", match.group(3) or ""


@dataclass(frozen=True)
class FirmwareImage:
    """One image file and its digests (hex, lowercase)."""

    version: str
    path: Path
    size: int
    md5: str
    sha256: str

    def read(self) -> bytes:
        """The whole image."""
        return self.path.read_bytes()


def check_image(data: bytes, where: str = "the image") -> None:
    """Raise :class:`BadImage` unless ``data`` looks like an ESP8266 application image."""
    if len(data) < MIN_IMAGE_SIZE:
        raise BadImage(f"{where} is {len(data)} bytes: too small for a node firmware "
                       f"(at least {MIN_IMAGE_SIZE})")
    if len(data) > MAX_IMAGE_SIZE:
        raise BadImage(f"{where} is {len(data)} bytes: larger than a node can install "
                       f"(at most {MAX_IMAGE_SIZE})")
    if data[0] != IMAGE_MAGIC:
        raise BadImage(f"{where} does not start with 0x{IMAGE_MAGIC:02X} (it starts with "
                       f"0x{data[0]:02X}): not an ESP8266 firmware .bin")


def default_shipped_dirs() -> tuple[Path, ...]:
    """Where images shipped with the gateway are looked for."""
    return (PACKAGE_FIRMWARE_DIR, SYSTEM_FIRMWARE_DIR)


def build_output_dirs() -> tuple[Path, ...]:
    """``out/`` of the source checkout the gateway runs from (``make firmware`` writes the
    node image there), or nothing for an installed package."""
    if (CHECKOUT_DIR / "firmware" / "Makefile").is_file():
        return (CHECKOUT_DIR / "out",)
    return ()


class FirmwareStore:
    """The images of ``user_dir`` (writable) and ``shipped_dirs`` (read-only)."""

    def __init__(self, user_dir: Path, shipped_dirs: Sequence[Path] | None = None) -> None:
        self.user_dir = Path(user_dir)
        self.shipped_dirs = tuple(default_shipped_dirs() if shipped_dirs is None
                                  else shipped_dirs)
        # (path, size, mtime_ns, inode) -> (md5, sha256): digests are read once per file.
        self._digests: dict[tuple[str, int, int, int], tuple[str, str]] = {}
        # one image's bytes, for the serial chunk server's many small reads
        self._data: tuple[tuple[str, int, int, int], bytes] | None = None

    @classmethod
    def for_data_dir(cls, data_dir: Path, shipped_dirs: Sequence[Path] | None = None
                     ) -> FirmwareStore:
        """The store of the gateway whose state is in ``data_dir``."""
        return cls(Path(data_dir) / "firmware", shipped_dirs)

    def images(self) -> list[FirmwareImage]:
        """Every usable image, oldest version first; one per version (the user's wins)."""
        found: dict[str, FirmwareImage] = {}
        for directory in (*reversed(self.shipped_dirs), self.user_dir):
            for image in self._scan(directory):
                found[image.version] = image
        return sorted(found.values(), key=lambda image: version_key(image.version))

    def newest(self) -> FirmwareImage | None:
        """The image of the highest version, or None when there is none."""
        images = self.images()
        return images[-1] if images else None

    def by_version(self, version: str) -> FirmwareImage | None:
        """The image of ``version``, if stored."""
        return next((i for i in self.images() if i.version == version), None)

    def by_md5(self, md5: str) -> FirmwareImage | None:
        """The image whose MD5 (hex) is ``md5``, if stored."""
        md5 = md5.lower()
        return next((i for i in self.images() if i.md5 == md5), None)

    def data_by_md5(self, md5: bytes) -> bytes | None:
        """The bytes of the image whose raw 16-byte MD5 is ``md5`` (the serial link asks
        this for every chunk: the last image read is kept in memory)."""
        image = self.by_md5(md5.hex())
        if image is None:
            return None
        key = _stat_key(image.path)
        if key is not None and self._data is not None and self._data[0] == key:
            return self._data[1]
        try:
            data = image.read()
        except OSError:
            return None
        if hashlib.md5(data).hexdigest() != image.md5:
            return None          # replaced while we looked: the node asks again
        if key is not None:
            self._data = (key, data)
        return data

    def add(self, source: Path, version: str | None = None) -> FirmwareImage:
        """Check ``source`` and copy it into the user directory as ``node-<version>.bin``.

        ``version`` defaults to the one in the file name (``node-0.4.0.bin``, or
        ``out/node-0.4.0.bin`` as ``make firmware`` writes it)."""
        source = Path(source)
        if version is None:
            match = IMAGE_NAME_RE.match(source.name)
            if match is None:
                raise BadImage(f"cannot tell the version from the name {source.name!r}: "
                               "name it node-<version>.bin or give --version")
            version = match.group(1)
        if not VERSION_RE.match(version):
            raise BadImage(f"{version!r} is not a version such as 0.4.0")
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise BadImage(f"cannot read {source}: {exc.strerror or exc}") from None
        check_image(data, str(source))
        self.user_dir.mkdir(parents=True, exist_ok=True)
        target = self.user_dir / image_name(version)
        # Written aside and renamed: a node never downloads half a file, and a full disk
        # leaves the previous image as it was.
        fd, tmp = tempfile.mkstemp(prefix=".node-", suffix=".tmp", dir=self.user_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        image = self._image(target, version)
        if image is None:
            raise BadImage(f"{target} vanished after it was written")
        return image

    def remove(self, version: str) -> FirmwareImage:
        """Delete the user's image of ``version``; shipped images (read-only, part of the
        installed system) are refused with where they lie."""
        image = self.by_version(version)
        if image is None:
            raise BadImage(f"no firmware {version} is stored")
        if image.path.parent != self.user_dir:
            raise BadImage(f"firmware {version} ships with the gateway ({image.path}): it "
                           "cannot be removed, only outranked by a newer one")
        image.path.unlink()
        return image

    # --- internals --------------------------------------------------------------------------

    def _scan(self, directory: Path) -> list[FirmwareImage]:
        try:
            names = os.listdir(directory)
        except OSError:
            return []
        images = []
        for name in names:
            match = IMAGE_NAME_RE.match(name)
            if match is None:
                continue
            image = self._image(directory / name, match.group(1))
            if image is not None:
                images.append(image)
        return images

    def _image(self, path: Path, version: str) -> FirmwareImage | None:
        key = _stat_key(path)
        if key is None or not MIN_IMAGE_SIZE <= key[1] <= MAX_IMAGE_SIZE:
            return None
        digests = self._digests.get(key)
        if digests is None:
            try:
                data = path.read_bytes()
            except OSError:
                return None
            if not data or data[0] != IMAGE_MAGIC or len(data) != key[1]:
                return None
            digests = (hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest())
            self._digests[key] = digests
        return FirmwareImage(version=version, path=path, size=key[1], md5=digests[0],
                             sha256=digests[1])


def _stat_key(path: Path) -> tuple[str, int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    if not os.path.isfile(path):
        return None
    return (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
