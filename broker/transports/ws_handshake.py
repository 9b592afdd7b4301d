"""The WebSocket opening handshake (RFC 6455 §4), server side, sans-IO.

Feed bytes to :class:`HandshakeReader` until it returns a request; then either send
:func:`accept_response` or, on :class:`HandshakeError`, :func:`error_response` and close.
Requests are bounded in size, so a peer cannot grow memory by never ending its headers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Collection
from dataclasses import dataclass, field
from http import HTTPStatus

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # fixed by RFC 6455 §1.3
MAX_REQUEST_BYTES = 8192
# "mqtt" is the registered name (MQTT 3.1.1 and 5.0); "mqttv3.1" is what MQTT 3.1 clients
# (older paho, some apps) ask for. The first one the client lists that we know wins.
SUBPROTOCOLS = ("mqtt", "mqttv3.1")


class HandshakeError(Exception):
    """The request cannot be upgraded; answer with ``status`` and close."""

    def __init__(self, status: HTTPStatus, reason: str, headers: dict[str, str] | None = None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or {}


@dataclass(frozen=True)
class UpgradeRequest:
    """A valid upgrade request and what the response needs from it."""

    path: str
    key: str
    subprotocol: str | None
    origin: str | None
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names; repeats joined


class HandshakeReader:
    """Collects the request head; validates it against the listener's rules."""

    def __init__(
        self,
        *,
        paths: Collection[str] = ("/mqtt",),
        allowed_origins: Collection[str] | None = None,
        max_bytes: int = MAX_REQUEST_BYTES,
    ) -> None:
        self.paths = frozenset(paths)
        self.allowed_origins = None if allowed_origins is None else frozenset(allowed_origins)
        self.max_bytes = max_bytes
        self._buf = bytearray()

    def feed(self, data: bytes) -> tuple[UpgradeRequest, bytes] | None:
        """Add bytes; returns (request, bytes after the head) once the head is complete."""
        self._buf += data
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > self.max_bytes:
                raise HandshakeError(
                    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request too large"
                )
            return None
        if end > self.max_bytes:
            raise HandshakeError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request too large")
        head, rest = bytes(self._buf[:end]), bytes(self._buf[end + 4 :])
        self._buf.clear()
        return self._validate(head), rest

    def _validate(self, head: bytes) -> UpgradeRequest:
        try:
            text = head.decode("ascii")
        except UnicodeDecodeError:
            raise HandshakeError(HTTPStatus.BAD_REQUEST, "non-ASCII request head") from None
        request_line, *header_lines = text.split("\r\n")
        parts = request_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            raise HandshakeError(HTTPStatus.BAD_REQUEST, "malformed request line")
        method, target, version = parts
        if method != "GET":
            raise HandshakeError(
                HTTPStatus.METHOD_NOT_ALLOWED, "only GET upgrades", {"Allow": "GET"}
            )
        if version != "HTTP/1.1":
            raise HandshakeError(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "HTTP/1.1 required")
        headers = _parse_headers(header_lines)
        path = target.split("?", 1)[0]
        if path not in self.paths:
            raise HandshakeError(HTTPStatus.NOT_FOUND, f"no WebSocket endpoint at {path}")
        if "websocket" not in _tokens(headers.get("upgrade", "")) or "upgrade" not in _tokens(
            headers.get("connection", "")
        ):
            raise HandshakeError(
                HTTPStatus.UPGRADE_REQUIRED,
                "WebSocket upgrade required",
                {"Upgrade": "websocket", "Connection": "Upgrade"},
            )
        if headers.get("sec-websocket-version", "").strip() != "13":
            raise HandshakeError(
                HTTPStatus.UPGRADE_REQUIRED,
                "WebSocket version 13 required",
                {"Sec-WebSocket-Version": "13"},
            )
        key = headers.get("sec-websocket-key", "").strip()
        try:
            if len(base64.b64decode(key, validate=True)) != 16:
                raise ValueError
        except (binascii.Error, ValueError):
            raise HandshakeError(HTTPStatus.BAD_REQUEST, "bad Sec-WebSocket-Key") from None
        origin = headers.get("origin")
        if self.allowed_origins is not None and origin not in self.allowed_origins:
            # Browsers always send Origin; refusing unknown ones stops a web page the user
            # happens to visit from talking to the house's broker (cross-site WebSocket use).
            raise HandshakeError(HTTPStatus.FORBIDDEN, f"origin {origin!r} not allowed")
        offered = _tokens(headers.get("sec-websocket-protocol", ""), lower=False)
        subprotocol = next((p for p in offered if p in SUBPROTOCOLS), None)
        if offered and subprotocol is None:
            raise HandshakeError(
                HTTPStatus.BAD_REQUEST, f"subprotocol must be one of {', '.join(SUBPROTOCOLS)}"
            )
        return UpgradeRequest(path, key, subprotocol, origin, headers)


def _parse_headers(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HandshakeError(HTTPStatus.BAD_REQUEST, "malformed header line")
        key = name.lower()
        value = value.strip()
        # Repeated headers are the same as one comma-joined header (RFC 9110 §5.3).
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _tokens(value: str, *, lower: bool = True) -> list[str]:
    items = [t.strip() for t in value.split(",")]
    return [t.lower() if lower else t for t in items if t]


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a client's Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + _GUID).digest()).decode("ascii")


def accept_response(request: UpgradeRequest) -> bytes:
    """The 101 Switching Protocols response that completes the handshake."""
    lines = [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept_key(request.key)}",
    ]
    if request.subprotocol:
        lines.append(f"Sec-WebSocket-Protocol: {request.subprotocol}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def error_response(error: HandshakeError) -> bytes:
    """A short plain-text HTTP error for a refused handshake."""
    body = (error.reason + "\n").encode("utf-8")
    lines = [f"HTTP/1.1 {error.status.value} {error.status.phrase}"]
    lines += [f"{k}: {v}" for k, v in error.headers.items()]
    lines += [
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body
