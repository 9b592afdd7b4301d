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

import logging
import socket

from aiohttp import web

from gateway.node_firmware import IMAGE_NAME_RE, FirmwareStore

log = logging.getLogger(__name__)

PATH_PREFIX = "/firmware/"


class FirmwareServer:
    """Serves ``store`` on ``host``:``port`` (``port`` 0: a free one, see :attr:`port`)."""

    def __init__(self, store: FirmwareStore, port: int, host: str | None = None) -> None:
        self.store = store
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen; raises OSError when the port is taken."""
        app = web.Application()
        app.router.add_get(PATH_PREFIX + "{name}", self._image)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            self._runner = None
            raise
        server = site._server
        if server is not None and server.sockets:           # the port chosen for port 0
            self.port = server.sockets[0].getsockname()[1]
        log.info("node firmware images served on http://%s:%d%s", self.host or "*", self.port,
                 PATH_PREFIX)

    async def stop(self) -> None:
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
        try:
            data = image.read()
        except OSError as exc:
            log.warning("cannot read %s: %s", image.path, exc)
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
