"""MQTT over WebSockets: an asyncio Protocol that unwraps RFC 6455 for the broker.

``WebSocketProtocol`` performs the HTTP upgrade (path ``/mqtt``, subprotocol ``mqtt``), then
gives the broker's connection protocol (docs/contracts.md, "Byte-stream transports") a
transport of its own, :class:`_MqttOverWebSocket`: bytes the broker writes leave as binary
frames, and payload bytes of the client's frames arrive in ``data_received``. The same
class serves ``ws`` and ``wss``: pass an SSLContext to :func:`start_websocket_server`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Collection
from typing import Any

from broker.transports.ws_frames import (
    Close,
    CloseCode,
    Data,
    FrameParser,
    Opcode,
    Ping,
    WebSocketProtocolError,
    encode_close,
    encode_frame,
)
from broker.transports.ws_handshake import (
    HandshakeError,
    HandshakeReader,
    accept_response,
    error_response,
)

log = logging.getLogger("broker.websocket")

DEFAULT_HANDSHAKE_TIMEOUT = 10.0  # seconds from TCP accept to a complete upgrade request


class _MqttOverWebSocket(asyncio.Transport):
    """The transport the broker's protocol sees: MQTT bytes in, binary frames out."""

    def __init__(self, owner: WebSocketProtocol) -> None:
        super().__init__()
        self._owner = owner

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if data and not self._owner.closing:
            self._owner.send(encode_frame(Opcode.BINARY, bytes(data)))

    def close(self) -> None:
        self._owner.close(CloseCode.NORMAL)

    def abort(self) -> None:
        self._owner.abort()

    def is_closing(self) -> bool:
        return self._owner.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        # peername, sslcontext, peercert, ... come from the TCP/TLS transport underneath.
        if name == "websocket_request":
            return self._owner.request
        return self._owner.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._owner.pause_reading()

    def resume_reading(self) -> None:
        self._owner.resume_reading()

    def is_reading(self) -> bool:
        return self._owner.is_reading()

    def get_write_buffer_size(self) -> int:
        return self._owner.get_write_buffer_size()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        # Flow control belongs to the socket underneath: its pause_writing reaches the broker.
        self._owner.set_write_buffer_limits(high, low)


class WebSocketProtocol(asyncio.Protocol):
    """One WebSocket connection carrying one MQTT connection."""

    def __init__(
        self,
        inner_factory: Callable[[], asyncio.BaseProtocol],
        *,
        paths: Collection[str] = ("/mqtt",),
        allowed_origins: Collection[str] | None = None,
        handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
    ) -> None:
        self._inner_factory = inner_factory
        self._handshake: HandshakeReader | None = HandshakeReader(
            paths=paths, allowed_origins=allowed_origins
        )
        self._handshake_timeout = handshake_timeout
        self._timer: asyncio.TimerHandle | None = None
        self._parser = FrameParser(expect_masked=True)
        self._transport: asyncio.Transport | None = None
        self._inner: asyncio.BaseProtocol | None = None
        self._inner_transport = _MqttOverWebSocket(self)
        self.request = None
        self.closing = False
        self._reading = True

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance check.
        self._transport = transport  # type: ignore[assignment]
        self._timer = asyncio.get_running_loop().call_later(
            self._handshake_timeout, self._handshake_timed_out
        )

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        if self._handshake is not None:
            data = self._continue_handshake(data)
            if not data:
                return
        try:
            events = self._parser.feed(data)
        except WebSocketProtocolError as exc:
            log.info("WebSocket protocol error from %s: %s", self._peer(), exc.reason)
            self.close(exc.code, exc.reason)
            return
        for event in events:
            if self.closing and not isinstance(event, Close):
                break
            if isinstance(event, Data):
                if event.data and self._inner is not None:
                    self._inner.data_received(event.data)  # type: ignore[attr-defined]
            elif isinstance(event, Ping):
                self.send(encode_frame(Opcode.PONG, event.payload))
            elif isinstance(event, Close):
                # Echo the code (RFC 6455 §5.5.1) and end the TCP connection.
                self.close(event.code if event.code is not None else CloseCode.NORMAL)
            # Pong: nothing to do; MQTT's own keep-alive decides liveness.

    def eof_received(self) -> bool | None:
        return None  # half-closed: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self._cancel_timer()
        inner, self._inner = self._inner, None
        if inner is not None:
            inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    # -- handshake ---------------------------------------------------------------------

    def _continue_handshake(self, data: bytes) -> bytes:
        """Feed the upgrade request; returns the frame bytes that followed it, if any."""
        assert self._handshake is not None and self._transport is not None
        try:
            done = self._handshake.feed(data)
        except HandshakeError as exc:
            log.info("WebSocket upgrade from %s refused: %s", self._peer(), exc.reason)
            self._transport.write(error_response(exc))
            self._shutdown()
            return b""
        if done is None:
            return b""
        self.request, rest = done
        self._handshake = None
        self._cancel_timer()
        self._transport.write(accept_response(self.request))
        self._inner = self._inner_factory()
        self._inner.connection_made(self._inner_transport)
        return rest

    def _handshake_timed_out(self) -> None:
        self._timer = None
        if self._handshake is not None and not self.closing:
            log.info("WebSocket upgrade from %s timed out", self._peer())
            self._shutdown()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- used by _MqttOverWebSocket ----------------------------------------------------

    def send(self, frame: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(frame)

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Send a Close frame (once) and end the TCP connection after it is written."""
        if self.closing:
            return
        if self._handshake is None:
            self.send(encode_close(code, reason))
        self._shutdown()

    def abort(self) -> None:
        self.closing = True
        if self._transport is not None:
            self._transport.abort()

    def _shutdown(self) -> None:
        self.closing = True
        if self._transport is not None:
            self._transport.close()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if self._transport is None:
            return default
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        if self._transport is not None and self._reading:
            self._reading = False
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._transport is not None and not self._reading:
            self._reading = True
            self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._reading

    def get_write_buffer_size(self) -> int:
        return 0 if self._transport is None else self._transport.get_write_buffer_size()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if self._transport is not None:
            self._transport.set_write_buffer_limits(high, low)

    def _peer(self) -> str:
        peer = self.get_extra_info("peername")
        return str(peer[0]) if isinstance(peer, tuple) and peer else "?"


async def start_websocket_server(
    inner_factory: Callable[[], asyncio.BaseProtocol],
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    paths: Collection[str] = ("/mqtt",),
    allowed_origins: Collection[str] | None = None,
    handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
) -> asyncio.Server:
    """Listen for MQTT over WebSockets (``wss`` when ``ssl_context`` is given).

    ``inner_factory`` makes the broker's connection protocol for each upgraded connection,
    e.g. ``lambda: broker.protocol_factory(listener="ws")``.
    """

    def factory() -> WebSocketProtocol:
        return WebSocketProtocol(
            inner_factory,
            paths=paths,
            allowed_origins=allowed_origins,
            handshake_timeout=handshake_timeout,
        )

    return await asyncio.get_running_loop().create_server(factory, host, port, ssl=ssl_context)
