"""Listeners: where clients connect (tcp, tls, ws, wss) and the security each one applies.

With no listener configured the broker has one: plain TCP on ``host``:``port`` (loopback
1883 by default). Anonymous clients are accepted from loopback addresses unless a listener
says otherwise; on any other address a listener needs a password file or an explicit
``allow_anonymous = true`` (which is logged as a warning).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from ..engine.addresses import is_loopback
from ..engine.admission import Ticket
from ..engine.policy import AllowAll, LoopbackAnonymous, Policy

if TYPE_CHECKING:
    from .accept import AcceptLoop

log = logging.getLogger("broker")

KINDS = ("tcp", "tls", "ws", "wss")
DEFAULT_PORTS = {"tcp": 1883, "tls": 8883, "ws": 9001, "wss": 9443}


@dataclass
class ListenerConfig:
    """One listener. In TOML: a ``[[broker.listeners]]`` table with these keys."""

    kind: str = "tcp"
    host: str = "127.0.0.1"
    port: int | None = None
    name: str = ""
    #: None: anonymous only from loopback addresses; True: from anywhere (warned); False: never.
    allow_anonymous: bool | None = None
    password_file: str | None = None
    acl_file: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    cafile: str | None = None
    require_certificate: bool = False
    use_identity_as_username: bool = False
    #: ws/wss: the one path upgrades are accepted on; None: both "/" and "/mqtt".
    path: str | None = None
    #: ws/wss: Origin headers accepted (e.g. ["http://gateway.local:8080"]); None: any. Set it
    #: so a web page a browser on the LAN happens to load cannot use the broker.
    allowed_origins: list[str] | None = None

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            _check_type(f.name, getattr(self, f.name), hints[f.name])
        if self.port is not None and not 0 <= self.port <= 65535:
            raise ListenerError(f"must be 0-65535, not {self.port}", "port")
        if self.kind not in KINDS:
            raise ListenerError(f"must be one of {', '.join(KINDS)}, not {self.kind!r}", "kind")
        if self.path is not None and not self.path.startswith("/"):
            # A request's path always starts with "/": no client could ever connect.
            raise ListenerError(f"must start with /, not {self.path!r}", "path")
        if self.allowed_origins is not None and not all(
            isinstance(origin, str) for origin in self.allowed_origins
        ):
            # An Origin header is text: anything else would refuse every browser.
            raise ListenerError("must be a list of strings", "allowed_origins")
        if self.port is None:
            self.port = DEFAULT_PORTS[self.kind]
        if not self.name:
            self.name = f"{self.kind}:{self.port}"
        if self.kind in ("tls", "wss") and not (self.certfile and self.keyfile):
            raise ValueError(f"listener {self.name}: {self.kind} needs certfile and keyfile")

    @classmethod
    def from_value(cls, value: ListenerConfig | dict[str, Any]) -> ListenerConfig:
        if isinstance(value, ListenerConfig):
            return value
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown listener key(s): {', '.join(unknown)}")
        return cls(**value)


class ListenerError(ValueError):
    """A bad listener setting; ``key`` names it (None: the listener as a whole)."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def _check_type(name: str, value: Any, hint: Any) -> None:
    """Raise ValueError unless ``value`` fits the annotation ``hint`` (config files are untyped)."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for option in options:
        if option is type(None):
            if value is None:
                return
            continue
        kind = typing.get_origin(option) or option
        if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
            return
    names = " or ".join(getattr(o, "__name__", str(o)) for o in options if o is not type(None))
    raise ListenerError(f"must be {names}, not {value!r}", name)


def listener_policy(lc: ListenerConfig, guard: Any = None) -> Policy:
    """The Policy of one listener from its settings; ``guard`` is the broker's shared
    login backoff (broker.auth.backoff.LoginGuard; None: a private one)."""
    if lc.allow_anonymous is True and not is_loopback(lc.host):
        log.warning(
            "listener %s on %s accepts anonymous clients (allow_anonymous = true)", lc.name, lc.host
        )
    if lc.password_file is None and lc.acl_file is None and not lc.use_identity_as_username:
        if lc.allow_anonymous is True or (lc.allow_anonymous is None and is_loopback(lc.host)):
            return AllowAll()
    from ..auth.policy import FilePolicy

    if lc.password_file is None and not lc.allow_anonymous and not lc.use_identity_as_username:
        log.warning("listener %s has no password_file: only loopback clients can connect", lc.name)
    policy: Policy = FilePolicy(
        password_file=lc.password_file,
        acl_file=lc.acl_file,
        allow_anonymous=bool(lc.allow_anonymous),
        use_identity_as_username=lc.use_identity_as_username,
        backoff=guard,
    )
    if lc.allow_anonymous is None:
        policy = LoopbackAnonymous(policy)
    return policy


def _ssl_context(lc: ListenerConfig) -> Any:
    from ..transports.tls import TlsOptions, server_context

    return server_context(
        TlsOptions(
            certfile=lc.certfile,  # type: ignore[arg-type]
            keyfile=lc.keyfile,  # type: ignore[arg-type]
            cafile=lc.cafile,
            require_certificate=lc.require_certificate,
            use_identity_as_username=lc.use_identity_as_username,
        )
    )


async def start_listener(
    lc: ListenerConfig,
    factory: Callable[[str, Ticket], asyncio.Protocol],
    admit: Callable[[str], Ticket | None],
    connect_timeout: float = 10.0,
) -> AcceptLoop:
    """Bind one listener. ``admit(peer)`` decides each connection at TCP accept (the
    engine's admission); ``factory(listener_name, ticket)`` makes the MQTT protocol."""
    from .accept import AcceptLoop, bind

    loop = asyncio.get_running_loop()
    ssl_context = _ssl_context(lc) if lc.kind in ("tls", "wss") else None
    protocol: Callable[[Ticket], asyncio.Protocol]
    if lc.kind in ("ws", "wss"):
        from ..transports.websocket import WebSocketProtocol
        from ..transports.ws_upgrade import DEFAULT_PATHS as DEFAULT_WS_PATHS

        def protocol(ticket: Ticket) -> asyncio.Protocol:
            return WebSocketProtocol(
                lambda: factory(lc.name, ticket),
                paths=(lc.path,) if lc.path else DEFAULT_WS_PATHS,
                allowed_origins=lc.allowed_origins,
                # A backstop only: the admission closes an unfinished upgrade at
                # connect_timeout from TCP accept, and logs such closes with a count.
                handshake_timeout=connect_timeout + 2,
            )
    else:

        def protocol(ticket: Ticket) -> asyncio.Protocol:
            return factory(lc.name, ticket)

    async def start(sock: socket.socket, ticket: Ticket) -> None:
        try:
            await loop.connect_accepted_socket(
                lambda: protocol(ticket),
                sock,
                ssl=ssl_context,
                # A backstop, as for WebSockets: the admission ends it first, counted.
                ssl_handshake_timeout=connect_timeout + 2 if ssl_context is not None else None,
            )
        except (TimeoutError, OSError) as exc:  # ssl.SSLError is an OSError
            ticket.end()
            log.debug("listener %s: a connection failed its TLS handshake: %s", lc.name, exc)

    sockets = await bind(lc.host, lc.port or 0)
    return AcceptLoop(lc.name, sockets, admit, start)
