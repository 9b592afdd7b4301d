"""Live updates: every open page gets each change as a small JSON message over a WebSocket.

One :class:`LiveHub` fans events out to many clients. Each client has a bounded queue and
its own sender task, so a phone on a weak WiFi link never holds up the broker callback or
the other pages; a client that falls too far behind is closed and reconnects (the page then
fetches the whole state again, which is what it would need anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

QUEUE_LIMIT = 512


class _Client:
    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(QUEUE_LIMIT)


class LiveHub:
    """Broadcasts events to the connected pages."""

    def __init__(self) -> None:
        self._clients: set[_Client] = set()

    def __len__(self) -> int:
        return len(self._clients)

    def broadcast(self, event: dict[str, Any]) -> None:
        """Queue ``event`` for every client (loop thread, never blocks)."""
        if not self._clients:
            return
        text = json.dumps(event, separators=(",", ":"))
        for client in list(self._clients):
            try:
                client.queue.put_nowait(text)
            except asyncio.QueueFull:
                log.info("live client too slow, closing it")
                self._drop(client)

    def _drop(self, client: _Client) -> None:
        self._clients.discard(client)
        # Wake the sender so it closes the socket; the queue is full, so make room first.
        with contextlib.suppress(asyncio.QueueEmpty):
            client.queue.get_nowait()
        client.queue.put_nowait(None)

    async def serve(self, request: web.Request, hello: dict[str, Any]) -> web.WebSocketResponse:
        """Run one WebSocket until either side closes it; ``hello`` is sent first."""
        ws = web.WebSocketResponse(heartbeat=30.0)
        await ws.prepare(request)
        client = _Client(ws)
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
