"""Wire primitives shared by every packet codec: integers, variable byte integers, strings.

Decoding raises :class:`MalformedPacket` (reason 0x81) or :class:`ProtocolError` (0x82);
the connection that fed the bytes is closed, nothing else is affected.
"""

from __future__ import annotations

import struct

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")

MAX_VARINT = 268_435_455


class MQTTError(Exception):
    """A violation found in a client's bytes; ``reason_code`` is what MQTT 5.0 reports."""

    reason_code = 0x81

    def __init__(self, message: str, reason_code: int | None = None) -> None:
        super().__init__(message)
        if reason_code is not None:
            self.reason_code = reason_code


class MalformedPacket(MQTTError):
    """The bytes cannot be parsed as the packet they claim to be (0x81)."""

    reason_code = 0x81


class ProtocolError(MQTTError):
    """The packet parses but breaks a protocol rule (0x82)."""

    reason_code = 0x82


class PacketTooLarge(MQTTError):
    """The remaining length exceeds the maximum packet size (0x95)."""

    reason_code = 0x95


def encode_varint(value: int) -> bytes:
    """Encode a Variable Byte Integer (1-4 bytes)."""
    if value < 128:
        return bytes((value,))
    if value > MAX_VARINT:
        raise ValueError(f"variable byte integer out of range: {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_u16(value: int) -> bytes:
    return _U16.pack(value)


def encode_u32(value: int) -> bytes:
    return _U32.pack(value)


def encode_binary(data: bytes) -> bytes:
    if len(data) > 65535:
        raise ValueError("binary data longer than 65535 bytes")
    return _U16.pack(len(data)) + data


def encode_str(text: str) -> bytes:
    return encode_binary(text.encode("utf-8"))


def check_utf8(raw: bytes) -> str:
    """Decode an MQTT UTF-8 string; NUL and ill-formed sequences are malformed (MQTT-1.5.4)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedPacket("string is not well-formed UTF-8") from exc
    if "\x00" in text:
        raise MalformedPacket("string contains U+0000")
    return text


class Reader:
    """A cursor over one packet's body."""

    __slots__ = ("buf", "pos", "end")

    def __init__(self, buf: bytes, pos: int = 0, end: int | None = None) -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else end

    def remaining(self) -> int:
        return self.end - self.pos

    def _need(self, n: int) -> int:
        pos = self.pos
        if pos + n > self.end:
            raise MalformedPacket("packet shorter than its fields")
        self.pos = pos + n
        return pos

    def u8(self) -> int:
        return self.buf[self._need(1)]

    def u16(self) -> int:
        return _U16.unpack_from(self.buf, self._need(2))[0]

    def u32(self) -> int:
        return _U32.unpack_from(self.buf, self._need(4))[0]

    def varint(self) -> int:
        value = 0
        shift = 0
        for _ in range(4):
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
        raise MalformedPacket("variable byte integer longer than 4 bytes")

    def binary(self) -> bytes:
        n = self.u16()
        pos = self._need(n)
        return bytes(self.buf[pos : pos + n])

    def utf8(self) -> str:
        return check_utf8(self.binary())

    def rest(self) -> bytes:
        pos = self.pos
        self.pos = self.end
        return bytes(self.buf[pos : self.end])

    def expect_end(self) -> None:
        if self.pos != self.end:
            raise MalformedPacket("unexpected bytes after the packet's fields")


def frame(first_byte: int, body: bytes) -> bytes:
    """Prefix a packet body with its fixed header."""
    n = len(body)
    if n < 128:
        return bytes((first_byte, n)) + body
    return bytes((first_byte,)) + encode_varint(n) + body
