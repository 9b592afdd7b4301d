"""The serial link's frame format: the Python twin of firmware/lib/gwlink/src/frame.h.

On the wire every frame is ``0x00 COBS(type | body | crc16_be) 0x00``, where the CRC is
CRC-16/CCITT-FALSE over type and body (``binascii.crc_hqx(data, 0xFFFF)``). COBS removes
every zero byte, so 0x00 only ever delimits frames; the delimiter on both sides lets the
receiver pick up the next good frame straight after noise, a half frame or boot messages.

Frame types (see :class:`FrameType`): DATA carries the MQTT byte stream (one whole packet
per frame), OPEN/ACCEPT start a connection, CLOSE ends one, SETTINGS/SETTINGS_REPLY set a
node up. Everything here is sans-IO.
"""

from __future__ import annotations

import binascii
import enum
from dataclasses import dataclass

LINK_VERSION = 1
# Decoded bytes a frame adds to its body: the type byte and the CRC.
FRAME_HEADER_AND_CRC = 3


class FrameType(enum.IntEnum):
    DATA = 0x01  # a slice of the MQTT byte stream
    OPEN = 0x02  # node -> gateway: version, nonce, max packet the node can receive (u16 BE)
    ACCEPT = 0x03  # gateway -> node: version, nonce (echoed)
    CLOSE = 0x04  # either way: the MQTT connection is over
    SETTINGS = 0x05  # gateway -> node: new settings (`gateway node setup`, gateway/node_setup.py)
    SETTINGS_REPLY = 0x06  # node -> gateway: "ok <firmware> <accepted>" or "error <firmware> <why>"
    UPDATE_READ = 0x07  # node -> gateway: md5 (16), offset (u32 BE), length (u16 BE)
    UPDATE_DATA = 0x08  # gateway -> node: offset (u32 BE), image bytes
    UPDATE_ERROR = 0x09  # gateway -> node: offset (u32 BE), UTF-8 reason


class BadFrame(enum.Enum):
    """Why a segment between two delimiters was not a frame."""

    CRC = "crc"  # noise, a half frame, the wrong baud rate
    COBS = "cobs"  # a segment cut short inside a COBS block
    TOO_LONG = "too_long"  # longer than the decoder's limit: dropped whole
    TOO_SHORT = "too_short"  # shorter than type + CRC
    STALLED = "stalled"  # the line went quiet in the middle of a frame (noise on an idle line)


@dataclass(frozen=True, slots=True)
class Frame:
    type: int
    body: bytes


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE, the frame checksum (check value 0x29B1 for b"123456789")."""
    return binascii.crc_hqx(data, 0xFFFF)


def cobs_max_encoded(length: int) -> int:
    """The longest COBS encoding of ``length`` bytes, without delimiters."""
    return length + length // 254 + 1


def cobs_encode(data: bytes) -> bytes:
    """COBS-encodes ``data`` exactly as the firmware does (byte-identical output).

    A run of 254 non-zero bytes at the very end gets no empty block after it; both forms
    decode the same.
    """
    out = bytearray()
    pieces = data.split(b"\x00")
    last_index = len(pieces) - 1
    for index, piece in enumerate(pieces):
        full_blocks, rest = divmod(len(piece), 254)
        for block in range(full_blocks):
            out.append(0xFF)
            out += piece[block * 254 : (block + 1) * 254]
        if index == last_index and full_blocks and not rest:
            break
        out.append(rest + 1)
        out += piece[full_blocks * 254 :]
    return bytes(out)


def cobs_decode(segment: bytes) -> bytes | None:
    """Decodes one segment (no delimiters); None if it is not a complete COBS encoding."""
    if b"\x00" in segment:
        return None
    out = bytearray()
    pos = 0
    end = len(segment)
    while pos < end:
        code = segment[pos]
        if code == 0:
            return None
        block_end = pos + code
        if block_end > end:
            return None
        out += segment[pos + 1 : block_end]
        pos = block_end
        if code != 0xFF and pos < end:
            out.append(0)
    return bytes(out)


def encode_frame(frame_type: int, body: bytes = b"") -> bytes:
    """The wire bytes of one frame, delimiters included."""
    raw = bytes((frame_type,)) + body
    raw += crc16(raw).to_bytes(2, "big")
    return b"\x00" + cobs_encode(raw) + b"\x00"


def open_body(nonce: int, max_packet: int) -> bytes:
    """The body of an OPEN frame, as a node sends it."""
    return bytes((LINK_VERSION, nonce & 0xFF)) + max_packet.to_bytes(2, "big")


class FrameDecoder:
    """Reassembles frames from arbitrary chunks of the serial byte stream.

    ``max_frame`` bounds the decoded frame (type + body + CRC); a longer segment is dropped
    whole without being buffered, so a flood of zero-free garbage costs no memory.
    """

    def __init__(self, max_frame: int) -> None:
        self.max_frame = max_frame
        self._max_encoded = cobs_max_encoded(max_frame)
        self._pending = bytearray()
        self._overflow = False

    @property
    def in_frame(self) -> bool:
        """True while part of a segment is buffered."""
        return bool(self._pending) or self._overflow

    def reset(self) -> None:
        """Forgets any partial segment."""
        self._pending.clear()
        self._overflow = False

    def feed(self, data: bytes) -> list[Frame | BadFrame]:
        """Returns the frames (and bad segments) completed by ``data``, in order."""
        parts = data.split(b"\x00")
        events: list[Frame | BadFrame] = []
        self._extend(parts[0])
        if len(parts) == 1:
            return events
        self._finish(events)
        for segment in parts[1:-1]:
            self._extend(segment)
            self._finish(events)
        self._extend(parts[-1])
        return events

    def _extend(self, chunk: bytes) -> None:
        if not chunk or self._overflow:
            return
        if len(self._pending) + len(chunk) > self._max_encoded:
            self._pending.clear()
            self._overflow = True
        else:
            self._pending += chunk

    def _finish(self, events: list[Frame | BadFrame]) -> None:
        if self._overflow:
            events.append(BadFrame.TOO_LONG)
        elif self._pending:
            events.append(self._decode(bytes(self._pending)))
        self._pending.clear()
        self._overflow = False

    def _decode(self, segment: bytes) -> Frame | BadFrame:
        raw = cobs_decode(segment)
        if raw is None:
            return BadFrame.COBS
        if len(raw) > self.max_frame:
            return BadFrame.TOO_LONG
        if len(raw) < FRAME_HEADER_AND_CRC:
            return BadFrame.TOO_SHORT
        if crc16(raw[:-2]) != int.from_bytes(raw[-2:], "big"):
            return BadFrame.CRC
        return Frame(raw[0], raw[1:-2])
