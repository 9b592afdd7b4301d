"""The HTTP server nodes download firmware images from (``[nodes] firmware_port``).

It answers ``GET /firmware/node-<version>.bin`` (and HEAD) with an image of the gateway's
store, as the ESP8266 core's ESP8266httpUpdate expects: ``Content-Length`` (it refuses a
response without one) and ``x-MD5`` (it checks the written image against it). A request
whose ``x-ESP8266-sketch-md5`` is the image's own MD5 gets 304 (the node runs it already),
and ``x-ESP8266-mode: version`` (getAvailableVersion) gets the version and MD5 without the
body. Nothing else is served: no listing, no other file, no path outside the store (the
name must match ``node-<version>.bin`` and is looked up among the store's images, never
joined to a path). It runs independently of the dashboard: nodes need it whether or not a
dashboard is enabled.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web

from gateway.node_firmware import IMAGE_NAME_RE, FirmwareStore

log = logging.getLogger(__name__)

PATH_PREFIX = "/firmware/"
#: aiohttp waits an hour for an idle connection and for ever for a request's headers; this
#: server shares the broker's process and file descriptors, so it bounds both itself.
MAX_CONNECTIONS = 32
MAX_PER_ADDRESS = 4
#: A whole download: 1 MB over a slow WiFi link takes well under this.
CONNECTION_DEADLINE = 120.0


class Cancellable(Protocol):
    def cancel(self) -> None: ...


CallLater = Callable[[float, Callable[[], None]], Cancellable]


class _Limits:
    """The connections of one server: how many, from where, and their deadlines."""

    def __init__(self, total: int, per_address: int, deadline: float,
                 call_later: CallLater | None) -> None:
        self.total = total
        self.per_address = per_address
        self.deadline = deadline
        self.call_later = call_later
        self.open: dict[asyncio.BaseTransport, tuple[str, Cancellable]] = {}
        self.by_address: Counter[str] = Counter()
        self.refused = 0

    def admit(self, transport: asyncio.BaseTransport) -> bool:
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) else str(peer)
        if len(self.open) >= self.total or self.by_address[address] >= self.per_address:
            self.refused += 1
            return False
        call_later = self.call_later or asyncio.get_running_loop().call_later
        abort: Any = transport.abort  # type: ignore[attr-defined]
        self.open[transport] = (address, call_later(self.deadline, abort))
        self.by_address[address] += 1
        return True

    def release(self, transport: asyncio.BaseTransport) -> None:
        entry = self.open.pop(transport, None)
        if entry is not None:
            address, timer = entry
            timer.cancel()
            self.by_address[address] -= 1
            if not self.by_address[address]:
                del self.by_address[address]

    def close_all(self) -> None:
        for transport in list(self.open):
            transport.abort()  # type: ignore[attr-defined]


class _Guarded(asyncio.Protocol):
    """aiohttp's request handler behind the limits: a connection over them is closed at
    once, and every connection ends at its deadline."""

    def __init__(self, inner: Any, limits: _Limits) -> None:
        self.inner = inner
        self.limits = limits
        self.admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self.limits.admit(transport):
            transport.abort()  # type: ignore[attr-defined]
            return
        self.admitted = True
        self.transport = transport
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.admitted:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.admitted else None

    def pause_writing(self) -> None:
        if self.admitted:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.admitted:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.admitted:
            self.limits.release(self.transport)
            self.inner.connection_lost(exc)


class FirmwareServer:
    """Serves ``store`` on ``host``:``port`` (``port`` 0: a free one, see :attr:`port`)."""

    def __init__(self, store: FirmwareStore, port: int, host: str | None = None, *,
                 max_connections: int = MAX_CONNECTIONS,
                 max_per_address: int = MAX_PER_ADDRESS,
                 deadline: float = CONNECTION_DEADLINE,
                 call_later: CallLater | None = None) -> None:
        self.store = store
        self.host = host
        self.port = port
        self._limits = _Limits(max_connections, max_per_address, deadline, call_later)
        self._runner: web.AppRunner | None = None
        self._server: asyncio.AbstractServer | None = None

    @property
    def connections(self) -> int:
        """Connections open now."""
        return len(self._limits.open)

    async def start(self) -> None:
        """Listen; raises OSError when the port is taken."""
        app = web.Application()
        app.router.add_get(PATH_PREFIX + "{name}", self._image)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        handlers = self._runner.server
        assert handlers is not None
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                lambda: _Guarded(handlers(), self._limits), self.host, self.port,
                reuse_address=True)
        except BaseException:
            await self._runner.cleanup()
            self._runner = None
            raise
        self.port = self._server.sockets[0].getsockname()[1]    # the one chosen for port 0
        log.info("node firmware images served on http://%s:%d%s", self.host or "*", self.port,
                 PATH_PREFIX)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._limits.close_all()
            self._server = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _image(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        match = IMAGE_NAME_RE.match(name)
        image = self.store.by_version(match.group(1)) if match else None
        if image is None:
            return web.Response(status=404, text="no such firmware image\n")
        headers = {"x-MD5": image.md5, "x-version": image.version,
                   "Content-Type": "application/octet-stream", "Cache-Control": "no-cache"}
        if request.headers.get("x-ESP8266-sketch-md5", "").lower() == image.md5:
            return web.Response(status=304, headers=headers)
        if request.headers.get("x-ESP8266-mode") == "version":
            return web.Response(status=200, headers=headers)
        # The store's cached copy: many nodes (or a LAN client opening many requests) share
        # one image in memory instead of a megabyte each.
        data = self.store.data_by_md5(bytes.fromhex(image.md5))
        if data is None:
            return web.Response(status=404, text="no such firmware image\n")
        log.info("sending firmware %s (%d bytes) to %s", image.version, len(data),
                 request.remote)
        return web.Response(body=data, headers=headers)


def lan_address() -> str:
    """This machine's address as the house network sees it (for the offer's URL): the
    source address of the default route, else the host name."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        # No packet is sent: connecting a UDP socket only picks the route and source.
        probe.connect(("192.0.2.1", 9))
        address = probe.getsockname()[0]
        if address and not address.startswith("0."):
            return address
    except OSError:
        pass
    finally:
        probe.close()
    return f"{socket.gethostname()}.local"
