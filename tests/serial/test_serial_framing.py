"""gateway.serial.framing: the Python twin of the firmware's frame format."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.serial.framing import (
    BadFrame,
    Frame,
    FrameDecoder,
    FrameType,
    cobs_decode,
    cobs_encode,
    cobs_max_encoded,
    crc16,
    encode_frame,
)


def r(first: int, last: int) -> bytes:
    return bytes(range(first, last + 1))


def test_crc16_check_value() -> None:
    assert crc16(b"123456789") == 0x29B1
    assert crc16(b"") == 0xFFFF


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        (b"\x00", b"\x01\x01"),
        (b"\x00\x00", b"\x01\x01\x01"),
        (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
        (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
        (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
        (r(1, 254), b"\xff" + r(1, 254)),
        (r(0, 254), b"\x01\xff" + r(1, 254)),
        (r(1, 255), b"\xff" + r(1, 254) + b"\x02\xff"),
        (r(2, 255) + b"\x00", b"\xff" + r(2, 255) + b"\x01\x01"),
        (r(3, 255) + b"\x00\x01", b"\xfe" + r(3, 255) + b"\x02\x01"),
    ],
)
def test_cobs_known_vectors(raw: bytes, encoded: bytes) -> None:
    """The same vectors as tests/firmware/cpp/test_framing.cpp: the twins agree."""
    assert cobs_encode(raw) == encoded
    assert cobs_decode(encoded) == raw


@given(st.binary(max_size=1200))
def test_cobs_round_trip(data: bytes) -> None:
    encoded = cobs_encode(data)
    assert b"\x00" not in encoded
    assert len(encoded) <= cobs_max_encoded(len(data))
    assert cobs_decode(encoded) == data


def test_cobs_decode_rejects_truncation_and_zero() -> None:
    assert cobs_decode(b"\x05\x11\x22") is None
    assert cobs_decode(b"\x02\x00") is None


@given(
    st.lists(
        st.tuples(st.sampled_from(list(FrameType)), st.binary(max_size=600)),
        min_size=1,
        max_size=8,
    ),
    st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=20),
)
def test_frames_survive_any_chunking(frames: list[tuple[FrameType, bytes]], cuts: list[int]) -> None:
    wire = b"".join(encode_frame(t, body) for t, body in frames)
    decoder = FrameDecoder(max_frame=700)
    events: list[Frame | BadFrame] = []
    pos = 0
    for cut in cuts * (len(wire) // sum(cuts) + 1):
        events += decoder.feed(wire[pos : pos + cut])
        pos += cut
        if pos >= len(wire):
            break
    assert events == [Frame(int(t), body) for t, body in frames]
    assert not decoder.in_frame


def test_resync_after_noise_and_half_frame() -> None:
    good = encode_frame(FrameType.DATA, b"\xc0\x00")
    half = good[: len(good) // 2]
    decoder = FrameDecoder(64)
    events = decoder.feed(b"\x13\x88\x7f\xfe\x41" + good + half + good + good)
    # The noise (a cut COBS block) and the half frame (too short): two bad, three good.
    assert [e for e in events if isinstance(e, BadFrame)] == [BadFrame.COBS, BadFrame.TOO_SHORT]
    assert events.count(Frame(FrameType.DATA, b"\xc0\x00")) == 3


def test_every_single_bit_error_is_caught() -> None:
    good = encode_frame(FrameType.OPEN, b"\x01\x07\x01\x00")
    for i in range(1, len(good) - 1):
        for bit in range(8):
            bad = bytearray(good)
            bad[i] ^= 1 << bit
            events = FrameDecoder(64).feed(bytes(bad))
            assert events and all(isinstance(e, BadFrame) for e in events)


def test_too_long_segment_is_dropped_without_buffering() -> None:
    decoder = FrameDecoder(max_frame=16)
    events = decoder.feed(encode_frame(FrameType.DATA, b"\x55" * 64))
    assert events == [BadFrame.TOO_LONG]
    # A zero-free flood: nothing is kept beyond the limit, and the next frame still decodes.
    for _ in range(100):
        assert decoder.feed(b"\x01" * 10_000) == []
    assert len(decoder._pending) == 0
    assert decoder.feed(encode_frame(FrameType.CLOSE)) == [BadFrame.TOO_LONG, Frame(FrameType.CLOSE, b"")]


def test_short_and_empty_segments() -> None:
    assert FrameDecoder(16).feed(b"\x00\x00\x00\x02\x01\x00") == [BadFrame.TOO_SHORT]


def test_random_garbage_never_raises() -> None:
    rng = random.Random(8)
    decoder = FrameDecoder(600)
    for _ in range(200):
        decoder.feed(rng.randbytes(rng.randrange(1, 2000)))
    assert decoder.feed(encode_frame(FrameType.DATA, b"\xd0\x00"))[-1] == Frame(FrameType.DATA, b"\xd0\x00")
