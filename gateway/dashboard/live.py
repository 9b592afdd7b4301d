"""Live updates: every open page gets each change as a small JSON message over a WebSocket.

One :class:`LiveHub` fans events out to many clients. Each client has a bounded queue and
its own sender task, so a phone on a weak WiFi link never holds up the broker callback or
the other pages; a client that falls too far behind is closed and reconnects (the page then
fetches the whole state again, which is what it would need anyway).

Each client belongs to a viewer (the signed-in user): an event may be a function of the
viewer, so each page gets only what its user may read. A client also carries a check of its
login: :meth:`LiveHub.sweep` closes those whose login ended (logout, changed password).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

QUEUE_LIMIT = 512

#: an event for every page, or a function giving one viewer's event (None: nothing for them)
Event = dict[str, Any] | Callable[[Any], dict[str, Any] | None]


def _always() -> bool:
    return True


class _Client:
    def __init__(self, ws: web.WebSocketResponse, viewer: Any,
                 valid: Callable[[], bool]) -> None:
        self.ws = ws
        self.viewer = viewer
        self.valid = valid
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(QUEUE_LIMIT)


class LiveHub:
    """Broadcasts events to the connected pages."""

    def __init__(self) -> None:
        self._clients: set[_Client] = set()

    def __len__(self) -> int:
        return len(self._clients)

    def broadcast(self, event: Event) -> None:
        """Queue ``event`` for every client (loop thread, never blocks); a function is
        called once per viewer object, and its text shared by the pages that have it."""
        if not self._clients:
            return
        texts: dict[int, str | None] = {}
        for client in list(self._clients):
            key = id(client.viewer)
            if key not in texts:
                own = event(client.viewer) if callable(event) else event
                texts[key] = None if own is None else json.dumps(own, separators=(",", ":"))
            text = texts[key]
            if text is None:
                continue
            try:
                client.queue.put_nowait(text)
            except asyncio.QueueFull:
                log.info("live client too slow, closing it")
                self._drop(client)

    def sweep(self) -> int:
        """Close the clients whose login no longer holds; returns how many."""
        ended = [c for c in self._clients if not c.valid()]
        for client in ended:
            log.info("live client closed: its login ended")
            self._drop(client)
        return len(ended)

    def _drop(self, client: _Client) -> None:
        self._clients.discard(client)
        # Wake the sender so it closes the socket; the queue is full, so make room first.
        with contextlib.suppress(asyncio.QueueEmpty):
            client.queue.get_nowait()
        client.queue.put_nowait(None)

    async def serve(self, request: web.Request, hello: dict[str, Any], viewer: Any = None,
                    valid: Callable[[], bool] = _always) -> web.WebSocketResponse:
        """Run one WebSocket until either side closes it; ``hello`` is sent first.
        ``viewer`` is handed to event functions; ``valid`` says whether its login holds."""
        ws = web.WebSocketResponse(heartbeat=30.0)
        await ws.prepare(request)
        client = _Client(ws, viewer, valid)
        await ws.send_str(json.dumps(hello, separators=(",", ":")))
        self._clients.add(client)
        sender = asyncio.create_task(self._send(client))
        try:
            async for msg in ws:
                # The page only listens; anything it sends is ignored, but reading keeps
                # pings answered and notices the close.
                if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            self._clients.discard(client)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            await ws.close()
        return ws

    async def _send(self, client: _Client) -> None:
        while True:
            text = await client.queue.get()
            if text is None or client.ws.closed:
                await client.ws.close()
                return
            try:
                await client.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    async def close(self) -> None:
        """Close every client (at shutdown)."""
        for client in list(self._clients):
            self._drop(client)
            with contextlib.suppress(Exception):
                await client.ws.close()
