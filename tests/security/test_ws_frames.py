"""RFC 6455 framing: round trips under any split of the byte stream, and refusals."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.transports.ws_frames import (
    Close,
    CloseCode,
    Data,
    FrameParser,
    Opcode,
    Ping,
    Pong,
    WebSocketProtocolError,
    apply_mask,
    encode_close,
    encode_frame,
)


def feed_in_pieces(parser: FrameParser, data: bytes, cuts: list[int]) -> list:
    events, last = [], 0
    for cut in sorted({c % (len(data) + 1) for c in cuts}) + [len(data)]:
        events += parser.feed(data[last:cut])
        last = cut
    return events


def joined_data(events: list) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, Data))


@settings(max_examples=200, deadline=None)
@given(
    payloads=st.lists(st.binary(max_size=70_000), min_size=1, max_size=4),
    cuts=st.lists(st.integers(min_value=0, max_value=300_000), max_size=12),
)
def test_masked_fragments_round_trip_under_any_split(payloads, cuts) -> None:
    # one binary message fragmented into len(payloads) frames, with a ping in the middle
    wire = b""
    for i, payload in enumerate(payloads):
        opcode = Opcode.BINARY if i == 0 else Opcode.CONTINUATION
        wire += encode_frame(opcode, payload, fin=i == len(payloads) - 1, mask=os.urandom(4))
        if i == 0:
            wire += encode_frame(Opcode.PING, b"hi", mask=os.urandom(4))
    events = feed_in_pieces(FrameParser(), wire, cuts)
    assert joined_data(events) == b"".join(payloads)
    assert [e for e in events if not isinstance(e, Data)] == [Ping(b"hi")]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_length_encodings(size: int) -> None:
    payload = os.urandom(size)
    frame = encode_frame(Opcode.BINARY, payload)
    assert FrameParser(expect_masked=False).feed(frame) == ([Data(payload)] if size else [])
    header_len = 2 if size < 126 else 4 if size < 65536 else 10
    assert len(frame) == header_len + size


def test_mask_offsets() -> None:
    data, mask = os.urandom(37), os.urandom(4)
    whole = apply_mask(data, mask)
    assert apply_mask(whole, mask) == data
    assert apply_mask(data[:5], mask) + apply_mask(data[5:], mask, 5) == whole


def test_control_frames_and_close() -> None:
    parser = FrameParser()
    events = parser.feed(
        encode_frame(Opcode.PONG, b"p", mask=b"abcd")
        + encode_close(CloseCode.GOING_AWAY, "bye", mask=b"wxyz")
        + encode_frame(Opcode.BINARY, b"ignored after close", mask=b"abcd")
    )
    assert events == [Pong(b"p"), Close(1001, "bye")]
    assert parser.closed and parser.feed(b"more") == []
    assert FrameParser().feed(encode_frame(Opcode.CLOSE, b"", mask=b"abcd")) == [Close(None, "")]


def masked_header(first: int, length_byte: int) -> bytes:
    return bytes([first, 0x80 | length_byte]) + b"mask"


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        (encode_frame(Opcode.BINARY, b"x"), CloseCode.PROTOCOL_ERROR),  # unmasked from client
        (masked_header(0x80 | 0x40 | 2, 0), CloseCode.PROTOCOL_ERROR),  # RSV1 set
        (encode_frame(Opcode.TEXT, b"x", mask=b"abcd"), CloseCode.UNSUPPORTED_DATA),
        (encode_frame(Opcode.CONTINUATION, b"x", mask=b"abcd"), CloseCode.PROTOCOL_ERROR),
        (masked_header(0x80 | 0x3, 0), CloseCode.PROTOCOL_ERROR),  # reserved data opcode
        (masked_header(0x80 | 0xB, 0), CloseCode.PROTOCOL_ERROR),  # reserved control opcode
        (masked_header(0x09, 0), CloseCode.PROTOCOL_ERROR),  # fragmented ping
        (masked_header(0x80 | 0x9, 126) , CloseCode.PROTOCOL_ERROR),  # ping > 125 bytes
        (bytes([0x82, 0x80 | 127]) + struct.pack("!Q", 1 << 63) + b"mask", CloseCode.PROTOCOL_ERROR),
        (encode_frame(Opcode.CLOSE, b"\x03", mask=b"abcd"), CloseCode.PROTOCOL_ERROR),
        (encode_close(1005, mask=b"abcd"), CloseCode.PROTOCOL_ERROR),
        (encode_frame(Opcode.CLOSE, b"\x03\xe8\xff", mask=b"abcd"), CloseCode.INVALID_PAYLOAD),
        (
            encode_frame(Opcode.BINARY, b"a", fin=False, mask=b"abcd")
            + encode_frame(Opcode.BINARY, b"b", mask=b"abcd"),
            CloseCode.PROTOCOL_ERROR,
        ),
    ],
)
def test_protocol_errors(wire: bytes, code: CloseCode) -> None:
    with pytest.raises(WebSocketProtocolError) as err:
        FrameParser().feed(wire)
    assert err.value.code == code


def test_client_side_refuses_masked_frames() -> None:
    with pytest.raises(WebSocketProtocolError):
        FrameParser(expect_masked=False).feed(encode_frame(Opcode.BINARY, b"x", mask=b"abcd"))


def test_announced_huge_frame_buffers_nothing() -> None:
    # a 2^40-byte frame announced: payload bytes stream out as they come, nothing piles up
    parser = FrameParser()
    header = bytes([0x82, 0x80 | 127]) + struct.pack("!Q", 1 << 40) + b"\0\0\0\0"
    assert parser.feed(header) == []
    for _ in range(10):
        assert parser.feed(b"z" * 1000) == [Data(b"z" * 1000)]
    assert len(parser._buf) == 0
