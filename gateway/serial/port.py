"""One serial device on the asyncio loop: pyserial configures it, the loop reads and writes it.

pyserial opens the device non-blocking and sets the line (baud, 8N1, raw); reading and
writing then go through the file descriptor with loop.add_reader/add_writer, so a port
costs no thread. An unplugged USB adapter shows up as a read error or end of file.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import select
from collections.abc import Callable
from typing import Any

import serial

log = logging.getLogger("gateway.serial")

# One read takes at most this much; at 115200 baud a second of input is ~11.5 KB.
READ_CHUNK = 4096


class SerialPort:
    """An open serial port delivering bytes to ``on_data``; ``on_lost`` once it fails.

    DTR and RTS are left deasserted: on NodeMCU-style boards they drive the ESP8266's reset
    and GPIO0 (boot mode), and asserting them on open would reboot a node.
    """

    def __init__(
        self,
        path: str,
        baudrate: int,
        *,
        on_data: Callable[[bytes], None],
        on_lost: Callable[[Exception | None], None],
        on_drain: Callable[[], None] = lambda: None,
        serial_factory: Callable[[], Any] = serial.Serial,
    ) -> None:
        self.path = path
        self.baudrate = baudrate
        self._on_data = on_data
        self._on_lost = on_lost
        self._on_drain = on_drain
        self._serial_factory = serial_factory
        self._serial: Any = None
        self._fd = -1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._out = bytearray()
        self._reading = False
        self._closed = True

    @property
    def is_open(self) -> bool:
        return not self._closed

    def open(self) -> None:
        """Opens and configures the device; raises serial.SerialException or OSError."""
        ser = self._serial_factory()
        ser.port = self.path
        ser.baudrate = self.baudrate
        ser.timeout = 0
        ser.write_timeout = 0
        ser.dtr = False
        ser.rts = False
        ser.exclusive = True  # a second gateway (or a terminal) must not steal frames
        ser.open()
        try:
            ser.reset_input_buffer()  # bytes from before we listened: a half frame at best
        except (OSError, serial.SerialException):
            pass
        self._serial = ser
        self._fd = ser.fileno()
        os.set_blocking(self._fd, False)
        self._loop = asyncio.get_running_loop()
        self._closed = False
        self.resume_reading()

    def close(self) -> None:
        """Closes the device without calling on_lost."""
        if self._closed:
            return
        self._closed = True
        self._stop_io()
        try:
            self._serial.close()
        except (OSError, serial.SerialException):
            pass  # already gone (unplugged)

    # --- reading --------------------------------------------------------------------------

    def pause_reading(self) -> None:
        if self._reading and not self._closed:
            self._reading = False
            self._loop.remove_reader(self._fd)  # type: ignore[union-attr]

    def resume_reading(self) -> None:
        if not self._reading and not self._closed:
            self._reading = True
            self._loop.add_reader(self._fd, self._readable)  # type: ignore[union-attr]

    def poll(self) -> None:
        """Reads what is waiting now, if anything, without blocking."""
        if not self._reading or self._closed:
            return
        # pyserial sets VMIN=0: read() on an idle tty returns b"" rather than raising
        # EAGAIN, and b"" from a readable fd is how an unplugged device shows. Ask first.
        readable, _, _ = select.select([self._fd], [], [], 0)
        if readable:
            self._readable()

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(exc)
            return
        if not data:
            # Readable yet empty: the device went away (USB unplugged, pty closed).
            self._fail(ConnectionError(f"{self.path}: device disconnected"))
            return
        try:
            self._on_data(data)
        except Exception:  # a bug in handling one chunk must not stop the port
            log.exception("%s: failed to handle input", self.path)

    # --- writing --------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Queues ``data``; never blocks. Bytes written after a failure are discarded."""
        if self._closed or not data:
            return
        if self._out:
            self._out += data
            return
        try:
            sent = os.write(self._fd, data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._fail(exc)
            return
        if sent < len(data):
            self._out += data[sent:]
            self._loop.add_writer(self._fd, self._writable)  # type: ignore[union-attr]

    def write_buffer_size(self) -> int:
        return len(self._out)

    def _writable(self) -> None:
        try:
            sent = os.write(self._fd, self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(exc)
            return
        del self._out[:sent]
        if not self._out:
            self._loop.remove_writer(self._fd)  # type: ignore[union-attr]
        self._on_drain()

    # --- failure --------------------------------------------------------------------------

    def _fail(self, exc: Exception) -> None:
        if self._closed:
            return
        if isinstance(exc, OSError) and exc.errno == errno.EIO:
            exc = ConnectionError(f"{self.path}: I/O error (device unplugged?)")
        self.close()
        self._on_lost(exc)

    def _stop_io(self) -> None:
        if self._loop is None or self._fd < 0:
            return
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        self._out.clear()
