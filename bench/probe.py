"""Is an MQTT broker serving yet? One CONNECT/CONNACK exchange answers it."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

# CONNECT, MQTT 3.1.1, clean session, keepalive 60 s; the client id is appended.
_CONNECT_HEAD = b"\x00\x04MQTT\x04\x02\x00\x3c"


def connect_packet(client_id: str) -> bytes:
    """An MQTT 3.1.1 CONNECT packet for ``client_id`` (short ids only)."""
    cid = client_id.encode()
    body = _CONNECT_HEAD + len(cid).to_bytes(2, "big") + cid
    if len(body) > 127:
        raise ValueError("client id too long for a one-byte remaining length")
    return bytes([0x10, len(body)]) + body


def handshake(port: int, host: str = "127.0.0.1", timeout: float = 2.0) -> bool:
    """True when ``host:port`` accepts a TCP connection and answers CONNECT with a
    successful CONNACK; False when nothing listens yet or the answer is wrong."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(connect_packet(f"probe-{os.getpid()}"))
            ack = b""
            while len(ack) < 4:
                chunk = s.recv(4 - len(ack))
                if not chunk:
                    return False
                ack += chunk
            # DISCONNECT, so the broker does not treat the close as an unexpected loss.
            s.sendall(b"\xe0\x00")
            return ack[0] == 0x20 and ack[3] == 0
    except OSError:
        return False


def wait_until_serving(port: int, deadline: float, host: str = "127.0.0.1",
                       poll: float = 0.002,
                       alive: Callable[[], bool] | None = None) -> float | None:
    """Polls until the broker answers CONNECT or ``time.monotonic()`` passes ``deadline``.

    Returns the monotonic time of the successful answer, or None. ``alive`` is an optional
    callable returning False once the broker process has exited, to stop early.
    """
    while time.monotonic() < deadline:
        if handshake(port, host, timeout=max(0.1, deadline - time.monotonic())):
            return time.monotonic()
        if alive is not None and not alive():
            return None
        time.sleep(poll)
    return None
