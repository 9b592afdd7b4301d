"""Helpers shared by the dashboard tests: a user file, waiting for a server,
and the checks a screenshot must pass."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from support.ports import free_port as free_port  # re-exported: the tests import it here

from broker.auth.passwords import PasswordFile

TIMEOUT = 30.0  # generous: other engineers' tests share the two cores
USER, PASSWORD = "alice", "correct horse"


def write_users(path: Path, users: dict[str, str] | None = None) -> Path:
    """A Mosquitto password file (few PBKDF2 rounds: the tests check logic, not strength)."""
    passwords = PasswordFile()
    for name, password in (users or {USER: PASSWORD}).items():
        passwords.set_password(name, password, iterations=1000)
    passwords.save(path)
    return path


async def wait_listening(port: int, timeout: float = TIMEOUT) -> None:
    """Until something accepts TCP connections on 127.0.0.1:``port``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)


def screenshot_problems(png: bytes, size: tuple[int, int]) -> list[str]:
    """Why a screenshot is not a picture of a page ([] when it is one): wrong size, one
    colour, or almost all background."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    problems = []
    if image.size != size:
        problems.append(f"size {image.size}, expected {size}")
    small = image.resize((image.width // 4, image.height // 4))
    colours = small.getcolors(maxcolors=1 << 16) or []
    if len(colours) < 16:
        problems.append(f"only {len(colours)} colours")
    background = max(colours, default=(0, (0, 0, 0)))[0]
    if background > 0.97 * small.width * small.height:
        problems.append("more than 97 % of the pixels are one colour")
    return problems


def save_small_png(png: bytes, path: Path) -> int:
    """Write ``png`` reduced to a 64-colour palette (the README copy stays small)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    image = image.quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, optimize=True)
    return path.stat().st_size
