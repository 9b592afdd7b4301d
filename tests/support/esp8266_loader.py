"""A double of the ESP8266's serial boot loader, on a pseudo-terminal, for flashing tests.

It speaks what esptool speaks to a NodeMCU held in its boot loader: SLIP frames carrying
commands (SYNC, READ_REG for the chip's magic number, WRITE_REG/READ_REG on the SPI
controller for the flash ID, MEM_BEGIN/MEM_DATA/MEM_END to upload esptool's flasher stub,
which then greets with "OHAI"), and what the stub adds: compressed writes
(FLASH_DEFL_BEGIN/DATA/END), MD5 of a flash region, erase, baud rate changes. Plain
FLASH_BEGIN/DATA/END (the ROM's own, uncompressed) work too. Every byte written lands in
``flash`` (4 MB, erased to 0xFF) and every write is logged in ``writes``, so a test compares
what reached the "flash" with the image it gave the flasher.

``magic`` picks the chip esptool will detect: ESP8266 by default, ESP32_MAGIC for a board
that is not one. Commands it does not know get the ROM's "invalid message" answer.
"""

from __future__ import annotations

import hashlib
import os
import select
import struct
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from support.ptycable import PtyCable

ESP8266_MAGIC = 0xFFF0C101
ESP32_MAGIC = 0x00F01D83
CHIP_MAGIC_REG = 0x40001000
FLASH_SIZE = 4 * 1024 * 1024
# Winbond W25Q32 (4 MB) as the SPI flash answers RDID: vendor 0xEF, type 0x40, size 0x16.
FLASH_ID = 0x1640EF

SPI_CMD_REG = 0x60000200
SPI_W0_REG = 0x60000240
SPI_CMD_USR = 1 << 18

OP_FLASH_BEGIN, OP_FLASH_DATA, OP_FLASH_END = 0x02, 0x03, 0x04
OP_MEM_BEGIN, OP_MEM_END, OP_MEM_DATA = 0x05, 0x06, 0x07
OP_SYNC, OP_WRITE_REG, OP_READ_REG = 0x08, 0x09, 0x0A
OP_SPI_SET_PARAMS, OP_SPI_ATTACH, OP_CHANGE_BAUDRATE = 0x0B, 0x0D, 0x0F
OP_DEFL_BEGIN, OP_DEFL_DATA, OP_DEFL_END, OP_MD5 = 0x10, 0x11, 0x12, 0x13
OP_ERASE_FLASH, OP_ERASE_REGION = 0xD0, 0xD1
SYNC_REPLY_VALUE = 0x20120707  # any non-zero value: the ROM, not a stub, answered
INVALID_MESSAGE = (1, 0x05)


def slip_encode(packet: bytes) -> bytes:
    body = packet.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc")
    return b"\xc0" + body + b"\xc0"


def esp_checksum(data: bytes) -> int:
    """The loader's checksum of a data block: 0xEF XOR every byte."""
    value = 0xEF
    for byte in data:
        value ^= byte
    return value


@dataclass
class Write:
    """One block the flasher wrote: where, and what (decompressed)."""

    offset: int
    data: bytes


@dataclass
class LoaderDouble:
    """The ROM boot loader's side of the cable. ``start()`` serves until ``close()``."""

    path: Path
    magic: int = ESP8266_MAGIC
    flash: bytearray = field(default_factory=lambda: bytearray(b"\xff" * FLASH_SIZE))
    writes: list[Write] = field(default_factory=list)
    ops: list[int] = field(default_factory=list)
    baudrates: list[int] = field(default_factory=list)
    stub_running: bool = False
    erased_all: bool = False
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cable = PtyCable(self.path)
        self._regs: dict[int, int] = {CHIP_MAGIC_REG: self.magic}
        self._cursor = 0           # where the next FLASH_DATA / DEFL_DATA block goes
        self._block_size = 0
        self._inflate: zlib._Decompress | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="esp8266-loader", daemon=True)

    def start(self) -> LoaderDouble:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.cable.close()

    def written(self, offset: int, size: int) -> bytes:
        return bytes(self.flash[offset:offset + size])

    # --- the wire ------------------------------------------------------------------------

    def _serve(self) -> None:
        frame = bytearray()
        in_frame = escaped = False
        while not self._stop.is_set():
            ready, _, _ = select.select([self.cable.master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self.cable.master, 4096)
            except (BlockingIOError, OSError):
                continue   # EIO while nobody holds the device end open
            for byte in chunk:
                if byte == 0xC0:
                    if in_frame and frame:
                        self._packet(bytes(frame))
                    frame.clear()
                    in_frame = True
                    escaped = False
                elif not in_frame:
                    continue
                elif escaped:
                    frame.append({0xDC: 0xC0, 0xDD: 0xDB}.get(byte, byte))
                    escaped = False
                elif byte == 0xDB:
                    escaped = True
                else:
                    frame.append(byte)

    def _send(self, packet: bytes) -> None:
        data = slip_encode(packet)
        while data:
            try:
                data = data[os.write(self.cable.master, data):]
            except BlockingIOError:
                select.select([], [self.cable.master], [], 0.05)

    def _reply(self, op: int, value: int = 0, payload: bytes = b"",
               status: tuple[int, int] = (0, 0)) -> None:
        body = payload + bytes(status)
        self._send(struct.pack("<BBHI", 1, op, len(body), value) + body)

    # --- commands ------------------------------------------------------------------------

    def _packet(self, packet: bytes) -> None:
        if len(packet) < 8 or packet[0] != 0:
            return
        _, op, size, checksum = struct.unpack("<BBHI", packet[:8])
        data = packet[8:8 + size]
        self.ops.append(op)
        try:
            self._command(op, data, checksum)
        except Exception as exc:  # a malformed command: answer as the ROM does, and tell
            self.errors.append(f"op 0x{op:02x}: {exc!r}")
            self._reply(op, status=INVALID_MESSAGE)

    def _command(self, op: int, data: bytes, checksum: int) -> None:
        if op == OP_SYNC:
            for _ in range(8):   # the ROM answers a SYNC eight times
                self._reply(op, SYNC_REPLY_VALUE)
        elif op == OP_READ_REG:
            (addr,) = struct.unpack("<I", data[:4])
            self._reply(op, self._regs.get(addr, 0))
        elif op == OP_WRITE_REG:
            for addr, value, mask, _delay in struct.iter_unpack("<IIII", data):
                self._write_reg(addr, value, mask)
            self._reply(op)
        elif op == OP_MEM_BEGIN:
            self._reply(op)
        elif op == OP_MEM_DATA:
            (length,) = struct.unpack("<I", data[:4])
            self._check_block(data[16:16 + length], checksum)
            self._reply(op)
        elif op == OP_MEM_END:
            no_entry, entry = struct.unpack("<II", data[:8])
            self._reply(op)
            if not no_entry and entry:
                self.stub_running = True   # the uploaded flasher stub starts and says so
                self._send(b"OHAI")
        elif op in (OP_SPI_SET_PARAMS, OP_SPI_ATTACH):
            self._reply(op)
        elif op == OP_CHANGE_BAUDRATE:
            self.baudrates.append(struct.unpack("<I", data[:4])[0])
            self._reply(op)
        elif op in (OP_FLASH_BEGIN, OP_DEFL_BEGIN):
            size, _blocks, block_size, offset = struct.unpack("<IIII", data[:16])
            self._begin(offset, size, block_size, compressed=op == OP_DEFL_BEGIN)
            self._reply(op)
        elif op in (OP_FLASH_DATA, OP_DEFL_DATA):
            length, _seq, _, _ = struct.unpack("<IIII", data[:16])
            block = data[16:16 + length]
            self._check_block(block, checksum)
            if op == OP_DEFL_DATA:
                if self._inflate is None:
                    raise ValueError("compressed data without FLASH_DEFL_BEGIN")
                block = self._inflate.decompress(block)
            self._store(block)
            self._reply(op)
        elif op in (OP_FLASH_END, OP_DEFL_END):
            self._inflate = None
            self._reply(op)
        elif op == OP_MD5 and self.stub_running:
            addr, size = struct.unpack("<II", data[:8])
            self._reply(op, payload=hashlib.md5(self.written(addr, size)).digest())
        elif op == OP_ERASE_FLASH and self.stub_running:
            self.flash[:] = b"\xff" * len(self.flash)
            self.erased_all = True
            self._reply(op)
        elif op == OP_ERASE_REGION and self.stub_running:
            offset, size = struct.unpack("<II", data[:8])
            self.flash[offset:offset + size] = b"\xff" * size
            self._reply(op)
        else:
            self._reply(op, status=INVALID_MESSAGE)

    def _write_reg(self, addr: int, value: int, mask: int) -> None:
        old = self._regs.get(addr, 0)
        self._regs[addr] = (old & ~mask) | (value & mask)
        if addr == SPI_CMD_REG and value & SPI_CMD_USR:
            # the one SPI flash command esptool runs through the registers here: RDID
            self._regs[SPI_W0_REG] = FLASH_ID
            self._regs[SPI_CMD_REG] = 0

    def _check_block(self, block: bytes, checksum: int) -> None:
        if esp_checksum(block) != checksum & 0xFF:
            raise ValueError("block checksum mismatch")

    def _begin(self, offset: int, size: int, block_size: int, compressed: bool) -> None:
        if offset + size > len(self.flash):
            raise ValueError(f"{size} bytes at 0x{offset:x} exceed the flash")
        self._cursor = offset
        self._block_size = block_size
        self._inflate = zlib.decompressobj() if compressed else None
        # The loader erases the sectors it is about to write.
        start = offset - offset % 4096
        end = -(-(offset + size) // 4096) * 4096
        self.flash[start:end] = b"\xff" * (end - start)

    def _store(self, data: bytes) -> None:
        if self._cursor + len(data) > len(self.flash):
            raise ValueError("write past the end of the flash")
        self.flash[self._cursor:self._cursor + len(data)] = data
        self.writes.append(Write(self._cursor, data))
        self._cursor += len(data)
