"""Accepting connections ourselves, so that limits apply from the TCP accept on.

asyncio's ``create_server`` hands a connection to us only after its TLS handshake, and it
retries a failed accept with a log line and a traceback each time. Here every accepted
socket is first put to the engine's admission (per-address rate and cap on connections not
yet logged in, connect_timeout from this moment; see broker.engine.admission); refused ones
are closed before any handshake. Running out of file descriptors (EMFILE) pauses accepting
briefly, leaves the waiting connections in the kernel's queue, logs one line per interval
with a count, and accepting resumes by itself once descriptors are free again.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import resource
import socket
import time
from collections.abc import Awaitable, Callable

from ..engine.admission import LOG_INTERVAL, Ticket

log = logging.getLogger("broker")

#: Seconds between accept attempts while the process is out of file descriptors.
RETRY_DELAY = 0.25
#: Connections accepted per wake-up of one listener, so one busy listener cannot starve the
#: others or the clients already connected.
BATCH = 64
_OUT_OF_DESCRIPTORS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}

Admit = Callable[[str], "Ticket | None"]
Start = Callable[[socket.socket, Ticket], Awaitable[None]]


#: Descriptors the process needs besides one per client: listeners, the store, the
#: dashboard, serial ports, and connections that have not logged in yet.
FD_RESERVE = 256


def raise_open_file_limit(max_connections: int, ceiling: int = 65536) -> int:
    """Raise the soft limit on open files to the hard one (up to ``ceiling``), as Go programs
    do at start, since every client costs a descriptor; warn when ``max_connections`` needs
    more than that. Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = ceiling if hard == resource.RLIM_INFINITY else min(hard, ceiling)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    need = max_connections + FD_RESERVE
    if max_connections and soft != resource.RLIM_INFINITY and need > soft:
        log.warning(
            "max_connections = %d needs about %d open files, but the limit is %d "
            "(raise LimitNOFILE, or lower max_connections)",
            max_connections,
            need,
            soft,
        )
    return soft


def peer_of(address: object) -> str:
    """``host:port`` or ``[v6]:port`` for an accepted socket's address."""
    if isinstance(address, tuple) and len(address) >= 2:
        host = str(address[0])
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    return str(address) if address else "?"


async def bind(host: str | None, port: int, backlog: int = 4096) -> list[socket.socket]:
    """Listening sockets for ``host`` (every address it resolves to) and ``port``."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    sockets: list[socket.socket] = []
    seen: set[tuple] = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                raise OSError(
                    exc.errno,
                    f"error while attempting to bind on address {address!r}: {exc.strerror}",
                ) from None
            sock.listen(backlog)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class DescriptorShortage:
    """Failed accepts for lack of file descriptors, for the whole process: every listener
    fails at once, and failing and recovering every few hundred milliseconds still writes
    one line per LOG_INTERVAL with the count, never one per attempt."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.failures = 0  # since the last line
        self._last_line: float | None = None

    def failed(self, listener: str, exc: OSError) -> None:
        self.failures += 1
        since = self._line_due()
        if since is not None:
            soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
            log.warning(
                "listener %s: cannot accept: %s (open file limit %d); %d attempt(s) failed "
                "in %.0f s; waiting connections are accepted once descriptors are free",
                listener,
                exc.strerror,
                soft,
                self.failures,
                since,
            )
            self.failures = 0

    def recovered(self, listener: str) -> None:
        if self._line_due() is not None:
            log.warning(
                "listener %s: accepting again (%d more attempt(s) had failed for lack of "
                "file descriptors)",
                listener,
                self.failures,
            )
            self.failures = 0

    def _line_due(self) -> float | None:
        """Seconds since the last line when another is due, else None."""
        now = self.clock()
        last = self._last_line
        if last is not None and now - last < LOG_INTERVAL:
            return None
        self._last_line = now
        return 0.0 if last is None else now - last


#: Shared by every listener of the process.
SHORTAGE = DescriptorShortage()


class AcceptLoop:
    """One listener's accepting side; quacks like the asyncio.Server the broker used before
    (``sockets``, ``close``, ``wait_closed``).

    ``admit(peer)`` returns a Ticket or None (close at once); ``start(sock, ticket)`` builds
    the transport (TLS, WebSocket, MQTT) on an admitted socket.
    """

    def __init__(
        self,
        name: str,
        sockets: list[socket.socket],
        admit: Admit,
        start: Start,
        shortage: DescriptorShortage | None = None,
    ) -> None:
        self.name = name
        self.sockets = sockets
        self._admit = admit
        self._start = start
        self._shortage = shortage if shortage is not None else SHORTAGE
        self._loop = asyncio.get_running_loop()
        self._tasks: set[asyncio.Task] = set()
        self._closed = False
        self._retry: asyncio.TimerHandle | None = None
        #: The last accept failed for lack of descriptors.
        self._short = False
        for sock in sockets:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    # --- accepting ---------------------------------------------------------------------

    def _accept(self, listening: socket.socket) -> None:
        for _ in range(BATCH):
            try:
                sock, address = listening.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_DESCRIPTORS:
                    self._out_of_descriptors(exc)
                    return
                # ECONNABORTED and the like: that peer gave up while queued; next one.
                log.debug("listener %s: accept failed: %s", self.name, exc)
                continue
            if self._short:
                self._recovered()
            self._admitted(sock, address)

    def _admitted(self, sock: socket.socket, address: object) -> None:
        ticket = self._admit(peer_of(address))
        if ticket is None:
            sock.close()
            return
        sock.setblocking(False)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ticket.on_expire = lambda: _shut(sock)
        ticket.is_open = lambda: sock.fileno() != -1
        task = self._loop.create_task(self._start(sock, ticket))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _out_of_descriptors(self, exc: OSError) -> None:
        for sock in self.sockets:
            self._loop.remove_reader(sock.fileno())
        if self._retry is None and not self._closed:
            self._retry = self._loop.call_later(RETRY_DELAY, self._resume)
        self._short = True
        self._shortage.failed(self.name, exc)

    def _resume(self) -> None:
        self._retry = None
        if self._closed:
            return
        for sock in self.sockets:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def _recovered(self) -> None:
        self._short = False
        self._shortage.recovered(self.name)

    # --- asyncio.Server's part -----------------------------------------------------------

    def close(self) -> None:
        """Stop accepting; connections being set up (TLS handshakes) are abandoned."""
        if self._closed:
            return
        self._closed = True
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        for sock in self.sockets:
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(sock.fileno())
            sock.close()
        for task in self._tasks:
            task.cancel()

    async def wait_closed(self) -> None:
        """Wait for the abandoned set-ups to finish."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _shut(sock: socket.socket) -> None:
    """End a connection whose transport may already own the socket: shutdown() makes the
    transport see the end and close it the usual way (close() here would pull the
    descriptor from under it)."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
