"""MQTT over WebSockets: an asyncio Protocol that unwraps RFC 6455 for the broker.

The protocol work is wsproto's (python-hyper; sans-IO like h11, so it fits an asyncio
Protocol without a second event loop or stream layer). ``WebSocketProtocol`` performs the
HTTP upgrade (paths ``/`` and ``/mqtt`` unless the listener names one, subprotocol
``mqtt``), then gives the broker's connection protocol (docs/contracts.md, "Byte-stream
transports") a transport of its own, :class:`_MqttOverWebSocket`: bytes the broker writes
leave as binary frames, and payload bytes of the client's frames arrive in
``data_received`` as they come, even from the middle of a frame (wsproto streams them), so
memory stays bounded by one read whatever frame size a peer announces. The same class serves
``ws`` and ``wss``: pass an SSLContext to :func:`start_websocket_server`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Collection
from typing import Any

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from broker.transports.ws_upgrade import DEFAULT_PATHS, Refused, UpgradeRules, split_head

log = logging.getLogger("broker.websocket")

DEFAULT_HANDSHAKE_TIMEOUT = 10.0  # seconds from TCP accept to a complete upgrade request


class _MqttOverWebSocket(asyncio.Transport):
    """The transport the broker's protocol sees: MQTT bytes in, binary frames out."""

    def __init__(self, owner: WebSocketProtocol) -> None:
        super().__init__()
        self._owner = owner

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if data and not self._owner.closing:
            self._owner.send_event(BytesMessage(data=bytes(data)))

    def close(self) -> None:
        self._owner.close(CloseReason.NORMAL_CLOSURE)

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
        paths: Collection[str] = DEFAULT_PATHS,
        allowed_origins: Collection[str] | None = None,
        handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
    ) -> None:
        self._inner_factory = inner_factory
        self._rules = UpgradeRules(frozenset(paths), None if allowed_origins is None
                                   else frozenset(allowed_origins))
        #: The request head gathered so far; None once the upgrade is answered.
        self._head: bytearray | None = bytearray()
        self._ws = WSConnection(ConnectionType.SERVER)
        self._handshake_timeout = handshake_timeout
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.Transport | None = None
        self._inner: asyncio.BaseProtocol | None = None
        self._inner_transport = _MqttOverWebSocket(self)
        self.request: Request | None = None
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
        if self._head is not None:
            data = self._continue_handshake(data)
            if not data:
                return
        self._ws.receive_data(data)
        for event in self._ws.events():
            if self.closing:
                break
            if isinstance(event, BytesMessage):
                if event.data and self._inner is not None:
                    self._inner.data_received(bytes(event.data))  # type: ignore[attr-defined]
            elif isinstance(event, Ping):
                self.send_event(event.response())
            elif isinstance(event, TextMessage):
                # MQTT 5.0 §6: MQTT travels in binary frames only.
                log.info("WebSocket text frame from %s: closing", self._peer())
                self.close(CloseReason.UNSUPPORTED_DATA, "MQTT needs binary frames")
            elif isinstance(event, CloseConnection):
                if self._ws.state is ConnectionState.REMOTE_CLOSING:
                    # The peer closed: echo its code (RFC 6455 §5.5.1) and end TCP.
                    self.send_event(event.response())
                    self._shutdown()
                else:  # wsproto found a protocol error in the peer's frames
                    log.info("WebSocket protocol error from %s: %s", self._peer(), event.reason)
                    self.close(event.code, event.reason)
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
        assert self._head is not None and self._transport is not None
        self._head += data
        try:
            split = split_head(bytes(self._head))
            if split is None:
                return b""
            head, rest = split
            self._head = None
            self.request = self._parse(head)
            subprotocol = self._rules.check(self.request)
        except Refused as refusal:
            log.info("WebSocket upgrade from %s refused: %s", self._peer(), refusal.reason)
            for event in refusal.response():
                self._transport.write(self._ws.send(event))
            self._shutdown()
            return b""
        self._cancel_timer()
        self._transport.write(self._ws.send(AcceptConnection(subprotocol=subprotocol)))
        self._inner = self._inner_factory()
        self._inner.connection_made(self._inner_transport)
        return rest

    def _parse(self, head: bytes) -> Request:
        """wsproto's checks of the request (RFC 6455 §4.2.1); raises Refused."""
        try:
            self._ws.receive_data(head)
            events = list(self._ws.events())
        except RemoteProtocolError as exc:
            hint = exc.event_hint
            status = hint.status_code if isinstance(hint, RejectConnection) else 400
            headers = [(bytes(k), bytes(v)) for k, v in getattr(hint, "headers", [])
                       if bytes(k).lower() != b"content-length"]
            raise Refused(status, str(exc), headers) from None
        request = next((e for e in events if isinstance(e, Request)), None)
        if request is None:  # a complete head that is no request (h11 saw nothing)
            raise Refused(400, "malformed request")
        return request

    def _handshake_timed_out(self) -> None:
        self._timer = None
        if self._head is not None and not self.closing:
            log.info("WebSocket upgrade from %s timed out", self._peer())
            self._shutdown()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- used by _MqttOverWebSocket ----------------------------------------------------

    def send_event(self, event: Any) -> None:
        """Frame a wsproto event and write it (nothing once the TCP side is closing)."""
        if self._transport is None or self._transport.is_closing():
            return
        try:
            self._transport.write(self._ws.send(event))
        except LocalProtocolError:  # the WebSocket is closed already: nothing more to say
            pass

    def close(self, code: int = CloseReason.NORMAL_CLOSURE, reason: str = "") -> None:
        """Send a Close frame (once) and end the TCP connection after it is written."""
        if self.closing:
            return
        if self._head is None and self.request is not None:
            self.send_event(CloseConnection(code=code, reason=reason or None))
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
    paths: Collection[str] = DEFAULT_PATHS,
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
