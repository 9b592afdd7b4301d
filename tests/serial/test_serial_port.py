"""SerialPort on a pseudo-terminal: reads, writes, polls and unplugging."""

from __future__ import annotations

import asyncio
from pathlib import Path

from support.ptycable import PtyCable
from support.wait import until

from gateway.serial.port import SerialPort


def test_read_write_poll_and_unplug(tmp_path: Path) -> None:
    cable = PtyCable(tmp_path / "ttyUSB0")
    received = bytearray()
    lost: list[Exception | None] = []

    async def scenario() -> None:
        port = SerialPort(str(cable.path), 115200, on_data=received.extend, on_lost=lost.append)
        port.open()
        try:
            # An idle line: poll() finds nothing and must not mistake that for unplugging.
            for _ in range(5):
                port.poll()
            assert port.is_open and lost == []
            await cable.write(b"\x00abc\x00")
            await until(lambda: bytes(received) == b"\x00abc\x00", what="read")
            port.write(b"to the node")
            await until(lambda: cable.read() == b"to the node", what="write")
            # A write far larger than the pty buffer is queued, never blocks the loop.
            port.write(b"x" * 200_000)
            got = bytearray()

            def drained() -> bool:
                got.extend(cable.read())
                return len(got) == 200_000 and port.write_buffer_size() == 0

            await until(drained, what="large write")
            cable.unplug()
            await until(lambda: lost, what="loss on unplug")
            assert not port.is_open
            port.write(b"after")  # discarded, no error
            port.poll()
        finally:
            port.close()

    try:
        asyncio.run(asyncio.wait_for(scenario(), 120))
    finally:
        cable.close()
    assert len(lost) == 1 and isinstance(lost[0], Exception)
