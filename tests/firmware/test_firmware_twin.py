"""The firmware's frame codec (C++) and gateway.serial.framing (Python) are byte-identical:
frames encoded by one decode in the other, for random bodies and random noise."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest
from fwbuild import make

from gateway.serial.framing import BadFrame, Frame, FrameDecoder, FrameType, encode_frame


class FrameTool:
    """firmware's frame_tool as a child process, one request per line."""

    def __init__(self, exe: Path) -> None:
        self.proc = subprocess.Popen(
            [str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def encode(self, frame_type: int, body: bytes) -> bytes:
        self.proc.stdin.write(f"E {frame_type:02x} {body.hex()}\n")
        self.proc.stdin.flush()
        return bytes.fromhex(self.proc.stdout.readline().strip())

    def decode(self, wire: bytes) -> list[Frame | BadFrame]:
        self.proc.stdin.write(f"D {wire.hex()}\n")
        self.proc.stdin.flush()
        events: list[Frame | BadFrame] = []
        while (line := self.proc.stdout.readline().strip()) != ".":
            kind, _, rest = line.partition(" ")
            if kind == "F":
                frame_type, _, body = rest.partition(" ")
                events.append(Frame(int(frame_type, 16), bytes.fromhex(body)))
            else:
                events.append(BadFrame(rest))
        return events

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def tool(tmp_path_factory: pytest.TempPathFactory):
    build = tmp_path_factory.mktemp("frame-tool")
    make(build, "frame_tool")
    tool = FrameTool(build / "frame_tool")
    yield tool
    tool.close()


def random_body(rng: random.Random) -> bytes:
    size = rng.choice([0, 1, 2, 253, 254, 255, 508, 509, rng.randrange(0, 1500)])
    zero_odds = rng.choice([2, 30, 10_000])
    return bytes(0 if rng.randrange(zero_odds) == 0 else rng.randrange(1, 256) for _ in range(size))


def test_encodings_are_identical(tool: FrameTool) -> None:
    rng = random.Random(88)
    for _ in range(300):
        frame_type = rng.choice(list(FrameType))
        body = random_body(rng)
        assert tool.encode(frame_type, body) == encode_frame(frame_type, body)


def test_each_side_decodes_the_others_frames_and_noise_alike(tool: FrameTool) -> None:
    rng = random.Random(89)
    for _ in range(100):
        wire = b"".join(
            rng.choice([encode_frame(FrameType.DATA, random_body(rng)), rng.randbytes(rng.randrange(1, 40))])
            for _ in range(rng.randrange(1, 6))
        ) + b"\x00"
        python_events = FrameDecoder(max_frame=4096).feed(wire)
        assert tool.decode(wire) == python_events
