"""``mqtt://user:pass@host:port`` URLs for --broker and [mqtt] url."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

_DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True)
class BrokerURL:
    """Where an external broker is and how to log in."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker_url(text: str) -> BrokerURL:
    """Parse ``mqtt://host[:port]``, ``mqtts://...`` or a bare ``host[:port]``."""
    if "://" not in text:
        text = f"mqtt://{text}"
    parts = urlsplit(text)
    if parts.scheme not in _DEFAULT_PORTS:
        raise ValueError(f"unsupported scheme {parts.scheme!r}: use mqtt:// or mqtts://")
    if not parts.hostname:
        raise ValueError(f"no host in {text!r}")
    if parts.path not in ("", "/"):
        raise ValueError(f"unexpected path {parts.path!r} in {text!r}")
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError as exc:  # urlsplit raises on a port out of range or not a number
        raise ValueError(f"bad port in {text!r}") from exc
    return BrokerURL(
        host=parts.hostname, port=port, tls=parts.scheme == "mqtts",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )
