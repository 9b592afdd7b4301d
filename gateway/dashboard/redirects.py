"""Where the login form may send the browser afterwards: only to a page of this box."""

from __future__ import annotations

from urllib.parse import urlsplit


def safe_next(target: str) -> str:
    """``target`` when it is a path on this server, else ``/``.

    Browsers and URL libraries drop tabs and newlines and read ``\\`` as ``/`` before they
    resolve a Location (WHATWG URL), so ``/<TAB>/evil.example`` and ``/\\evil.example`` are
    ``//evil.example``: another host. Anything with a control character or a backslash is
    refused outright, and what is left must be a path without scheme or host and without
    an empty segment (``/.//evil.example`` would need dot segments resolved to see it).
    """
    if not target.startswith("/") or any(ch == "\\" or ord(ch) < 0x20 or ord(ch) == 0x7F
                                         for ch in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//") or "//" in parts.path:
        return "/"
    return target
