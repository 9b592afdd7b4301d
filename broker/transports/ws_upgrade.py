"""The listener's rules for a WebSocket upgrade, on top of wsproto's RFC 6455 checks; sans-IO.

wsproto (python-hyper, the h11 family) parses the request and checks what RFC 6455 requires
(GET, Upgrade, Connection, Sec-WebSocket-Key and -Version, Host). What only the broker can
decide lives here: which paths, which Origins and which subprotocols a listener accepts.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from http import HTTPStatus

from wsproto.events import RejectConnection, RejectData, Request

#: Bound on the request head, so a peer cannot grow memory by never ending its headers.
MAX_REQUEST_BYTES = 8192
#: ``ws://host:port`` asks for ``/``; MQTT over WebSockets conventionally uses ``/mqtt``.
DEFAULT_PATHS = ("/", "/mqtt")
# "mqtt" is the registered name (MQTT 3.1.1 and 5.0); "mqttv3.1" is what MQTT 3.1 clients
# (older paho, some apps) ask for. The first one the client lists that we know wins.
SUBPROTOCOLS = ("mqtt", "mqttv3.1")


class Refused(Exception):
    """The upgrade is refused: answer with ``status`` and close."""

    def __init__(self, status: int, reason: str, headers: list[tuple[bytes, bytes]] | None = None):
        super().__init__(reason)
        self.status = HTTPStatus(status)
        self.reason = reason
        self.headers = headers or []

    def response(self) -> tuple[RejectConnection, RejectData]:
        """The wsproto events of a short plain-text HTTP error."""
        body = (self.reason + "\n").encode()
        headers = [
            *self.headers,
            (b"Content-Type", b"text/plain; charset=utf-8"),
            (b"Content-Length", str(len(body)).encode()),
            (b"Connection", b"close"),
        ]
        return (RejectConnection(status_code=self.status.value, headers=headers, has_body=True),
                RejectData(data=body, body_finished=True))


@dataclass(frozen=True)
class UpgradeRules:
    """What one listener accepts. ``allowed_origins`` None: any Origin."""

    paths: Collection[str] = DEFAULT_PATHS
    allowed_origins: Collection[str] | None = None

    def check(self, request: Request) -> str | None:
        """The subprotocol to answer with (None: the client offered none); raises Refused."""
        path = request.target.split("?", 1)[0]
        if path not in self.paths:
            raise Refused(HTTPStatus.NOT_FOUND, f"no WebSocket endpoint at {path}; "
                          f"use {' or '.join(sorted(self.paths))}")
        origin = header(request, b"origin")
        # Browsers always send Origin; refusing unknown ones stops a web page the user
        # happens to visit from talking to the house's broker (cross-site WebSocket use).
        # A client without one is not a browser (MQTT.js in Node, phone apps): no web page
        # can make a browser leave it out, so the allow-list has nothing to protect there.
        if self.allowed_origins is not None and origin is not None \
                and origin not in self.allowed_origins:
            raise Refused(HTTPStatus.FORBIDDEN, f"origin {origin!r} not allowed")
        offered = list(request.subprotocols)
        subprotocol = next((p for p in offered if p in SUBPROTOCOLS), None)
        if offered and subprotocol is None:
            raise Refused(HTTPStatus.BAD_REQUEST,
                          f"subprotocol must be one of {', '.join(SUBPROTOCOLS)}")
        return subprotocol


def header(request: Request, name: bytes) -> str | None:
    """A request header's value (names compare case-insensitively; repeats joined)."""
    values = [v.decode("latin-1") if isinstance(v, bytes) else v
              for k, v in request.extra_headers
              if (k.lower() if isinstance(k, bytes) else k.lower().encode()) == name]
    return ", ".join(values) if values else None


def split_head(buffer: bytes) -> tuple[bytes, bytes] | None:
    """(request head, bytes after it) once the head is complete; raises Refused when the
    head outgrows MAX_REQUEST_BYTES. Frames a client sends right behind its request stay
    with us this way instead of in the HTTP parser's buffer."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0 and len(buffer) <= MAX_REQUEST_BYTES:
        return None
    if end < 0 or end > MAX_REQUEST_BYTES:
        raise Refused(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request too large")
    return buffer[: end + 4], buffer[end + 4 :]
