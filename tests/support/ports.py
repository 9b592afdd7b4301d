"""TCP ports on 127.0.0.1 for servers under test: pick a free one, wait until one accepts."""

from __future__ import annotations

import socket

from support.wait import TIMEOUT, wait_until

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` that was free a moment ago (a server may still race us to it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def accepts(port: int, host: str = HOST) -> bool:
    """Whether something accepts TCP connections on host:port right now."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_listening(port: int, timeout: float = TIMEOUT, host: str = HOST) -> None:
    """Return once host:port accepts connections; AssertionError after ``timeout``."""
    wait_until(lambda: accepts(port, host), timeout, f"a server on {host}:{port}")
