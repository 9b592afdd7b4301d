"""ESP8266 firmware images for the update tests: bytes that pass the gateway's checks
(first byte 0xE9, a plausible size), different per version so their MD5s differ."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

DEFAULT_SIZE = 20_000


def image_bytes(version: str, size: int = DEFAULT_SIZE) -> bytes:
    """A fake application image of ``size`` bytes for ``version`` (random after the magic
    byte, seeded by the version, so zero bytes and every other value occur)."""
    rng = random.Random(version)
    return bytes([0xE9]) + rng.randbytes(size - 1)


def write_image(directory: Path, version: str, size: int = DEFAULT_SIZE) -> bytes:
    """Store ``node-<version>.bin`` in ``directory``; returns its bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    data = image_bytes(version, size)
    (directory / f"node-{version}.bin").write_bytes(data)
    return data


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()
