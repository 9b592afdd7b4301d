"""RFC 6455 WebSocket framing, sans-IO: bytes in, events out; events in, bytes out.

MQTT over WebSockets (MQTT 5.0 §6) carries the MQTT byte stream in *binary* frames, and a
frame boundary means nothing to MQTT. So the parser does not gather messages: it hands out
payload bytes as soon as they arrive (:class:`Data`), unmasked, even from the middle of a
frame. Memory per connection therefore stays bounded by what one ``feed()`` delivered,
however large a frame the peer announces, and the MQTT layer's own limits apply.

Control frames (ping, pong, close) may arrive between the fragments of a message, as the RFC
allows; they are short (at most 125 bytes) and are buffered whole.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum


class Opcode(IntEnum):
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009


# Codes a peer may send in a Close frame (RFC 6455 §7.4); 1005, 1006 and 1015 are only for
# reporting locally and must never appear on the wire.
_VALID_CLOSE_CODES = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}


@dataclass(frozen=True)
class Data:
    """Payload bytes of a data frame (any part of one), already unmasked."""

    data: bytes


@dataclass(frozen=True)
class Ping:
    payload: bytes


@dataclass(frozen=True)
class Pong:
    payload: bytes


@dataclass(frozen=True)
class Close:
    code: int | None  # None: the peer sent no status code
    reason: str


Event = Data | Ping | Pong | Close


class WebSocketProtocolError(Exception):
    """The peer broke RFC 6455 (or MQTT's binary-only rule); close with ``code``."""

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def apply_mask(data: bytes, mask: bytes, offset: int = 0) -> bytes:
    """XOR ``data`` with the 4-byte ``mask``, starting ``offset`` bytes into the frame."""
    if not data:
        return b""
    shift = offset % 4
    key = (mask[shift:] + mask[:shift]) * (len(data) // 4 + 1)
    # One big-integer XOR is far faster in CPython than a loop over bytes.
    n = len(data)
    return (int.from_bytes(data, "big") ^ int.from_bytes(key[:n], "big")).to_bytes(n, "big")


def encode_frame(
    opcode: Opcode, payload: bytes = b"", *, fin: bool = True, mask: bytes | None = None
) -> bytes:
    """One frame. Servers send unmasked frames; clients must pass a random 4-byte ``mask``."""
    first = (0x80 if fin else 0) | int(opcode)
    mask_bit = 0x80 if mask is not None else 0
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", first, mask_bit | n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", first, mask_bit | 126, n)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, n)
    if mask is None:
        return header + payload
    return header + mask + apply_mask(payload, mask)


def encode_close(
    code: int = CloseCode.NORMAL, reason: str = "", mask: bytes | None = None
) -> bytes:
    """A Close frame with a status code and a (truncated to fit) UTF-8 reason."""
    body = struct.pack("!H", code) + reason.encode("utf-8")[:123]
    return encode_frame(Opcode.CLOSE, body, mask=mask)


class FrameParser:
    """Incremental frame parser for one direction of one connection.

    ``expect_masked``: True on a server (RFC 6455 §5.1: client frames must be masked and an
    unmasked one is a protocol error), False on a client.
    """

    def __init__(self, *, expect_masked: bool = True) -> None:
        self.expect_masked = expect_masked
        self._buf = bytearray()
        self._in_message = False  # a fragmented data message is open
        # state of the data frame whose payload is being streamed out
        self._remaining = 0
        self._mask: bytes | None = None
        self._offset = 0
        self.closed = False  # a Close frame was received; nothing after it counts

    def feed(self, data: bytes) -> list[Event]:
        """Consume bytes; return the events they complete. Raises WebSocketProtocolError."""
        if self.closed:
            return []
        self._buf += data
        events: list[Event] = []
        while self._buf and not self.closed:
            if self._remaining:
                events.append(self._stream_payload())
                continue
            event = self._parse_header()
            if event is None:
                break
            if not isinstance(event, _StartData):
                events.append(event)
        return events

    def _stream_payload(self) -> Data:
        take = min(self._remaining, len(self._buf))
        chunk = bytes(self._buf[:take])
        del self._buf[:take]
        if self._mask is not None:
            chunk = apply_mask(chunk, self._mask, self._offset)
        self._offset += take
        self._remaining -= take
        return Data(chunk)

    def _parse_header(self) -> Event | _StartData | None:
        buf = self._buf
        if len(buf) < 2:
            return None
        b0, b1 = buf[0], buf[1]
        fin, rsv, opcode = b0 & 0x80, b0 & 0x70, b0 & 0x0F
        masked, length = b1 & 0x80, b1 & 0x7F
        if rsv:
            raise WebSocketProtocolError(CloseCode.PROTOCOL_ERROR, "reserved bits set")
        if bool(masked) != self.expect_masked:
            raise WebSocketProtocolError(
                CloseCode.PROTOCOL_ERROR,
                "client frames must be masked"
                if self.expect_masked
                else "server frames must not be masked",
            )
        if opcode >= 0x8 and (not fin or length > 125):
            # Checked before waiting for more bytes: a bad control header fails at once.
            raise WebSocketProtocolError(
                CloseCode.PROTOCOL_ERROR, "control frames must be whole and at most 125 bytes"
            )
        pos = 2
        if length == 126:
            if len(buf) < 4:
                return None
            (length,) = struct.unpack_from("!H", buf, 2)
            pos = 4
        elif length == 127:
            if len(buf) < 10:
                return None
            (length,) = struct.unpack_from("!Q", buf, 2)
            if length >> 63:
                raise WebSocketProtocolError(CloseCode.PROTOCOL_ERROR, "frame length too large")
            pos = 10
        mask = None
        if masked:
            if len(buf) < pos + 4:
                return None
            mask = bytes(buf[pos : pos + 4])
            pos += 4

        if opcode >= 0x8:
            return self._control(opcode, length, mask, pos)
        self._check_data_opcode(opcode, fin)
        del buf[:pos]
        self._remaining, self._mask, self._offset = length, mask, 0
        return _StartData()

    def _check_data_opcode(self, opcode: int, fin: int) -> None:
        if opcode == Opcode.CONTINUATION:
            if not self._in_message:
                raise WebSocketProtocolError(CloseCode.PROTOCOL_ERROR, "continuation without start")
        elif opcode == Opcode.BINARY:
            if self._in_message:
                raise WebSocketProtocolError(
                    CloseCode.PROTOCOL_ERROR, "new message inside a fragmented one"
                )
        elif opcode == Opcode.TEXT:
            # MQTT 5.0 §6.0: any data frame other than binary closes the connection.
            raise WebSocketProtocolError(CloseCode.UNSUPPORTED_DATA, "MQTT needs binary frames")
        else:
            raise WebSocketProtocolError(CloseCode.PROTOCOL_ERROR, f"unknown opcode {opcode}")
        self._in_message = not fin

    def _control(self, opcode: int, length: int, mask: bytes | None, pos: int) -> Event | None:
        if len(self._buf) < pos + length:
            return None
        payload = bytes(self._buf[pos : pos + length])
        del self._buf[: pos + length]
        if mask is not None:
            payload = apply_mask(payload, mask)
        if opcode == Opcode.PING:
            return Ping(payload)
        if opcode == Opcode.PONG:
            return Pong(payload)
        if opcode == Opcode.CLOSE:
            self.closed = True
            return _parse_close(payload)
        raise WebSocketProtocolError(CloseCode.PROTOCOL_ERROR, f"unknown opcode {opcode}")


class _StartData:
    """Internal marker: a data frame header was consumed; its payload follows."""


def _parse_close(payload: bytes) -> Close:
    if not payload:
        return Close(None, "")
    if len(payload) == 1:
        raise WebSocketProtocolError(CloseCode.PROTOCOL_ERROR, "close payload of one byte")
    (code,) = struct.unpack_from("!H", payload)
    if code not in _VALID_CLOSE_CODES and not 3000 <= code <= 4999:
        raise WebSocketProtocolError(CloseCode.PROTOCOL_ERROR, f"invalid close code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise WebSocketProtocolError(CloseCode.INVALID_PAYLOAD, "close reason not UTF-8") from None
    return Close(code, reason)
