"""The gateway's side of a node firmware update, played by the test (docs/contracts.md,
"Node firmware updates"): images, the retained offer, an HTTP server for WiFi nodes and,
for serial nodes, a chunk server on the cable that answers UPDATE_READ frames and passes
every other frame between the node and `gateway run`'s serial bridge."""

from __future__ import annotations

import hashlib
import json
import os
import random
import select
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from gateway.serial.framing import Frame, FrameDecoder, FrameType, encode_frame


def make_image(size: int, seed: int = 15) -> bytes:
    """An ESP8266 application image as far as the Updater looks: magic 0xE9, and a flash
    size (4 MB) in the header's fourth byte that fits the emulated chip."""
    body = random.Random(seed).randbytes(size - 4)
    return bytes((0xE9, 0x03, 0x02, 0x40)) + body


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324 - the contract's check, not security


def offer_payload(version: str, image: bytes, url: str = "", attempt: int = 1,
                  size: int | None = None, md5: str | None = None) -> bytes:
    """The offer as the gateway publishes it (retained, QoS 1)."""
    return json.dumps({"v": version, "md5": md5 or md5_hex(image),
                       "size": len(image) if size is None else size, "url": url,
                       "try": attempt}).encode()


@dataclass
class Request:
    path: str
    headers: dict[str, str]


class ImageServer:
    """Serves images over HTTP as the gateway's image server does; ``images`` maps a path
    to (body, x-MD5 header or None). Every request is kept."""

    def __init__(self) -> None:
        self.images: dict[str, tuple[bytes, str | None]] = {}
        self.requests: list[Request] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.requests.append(Request(self.path, dict(self.headers.items())))
                found = server.images.get(self.path)
                if found is None:
                    self.send_error(404)
                    return
                body, md5 = found
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                if md5:
                    self.send_header("x-MD5", md5)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class Read:
    md5: bytes
    offset: int
    length: int
    at: float


@dataclass
class ChunkServer:
    """Answers UPDATE_READ frames from ``images`` (md5 -> image). ``mute`` reads go
    unanswered (a lost frame); ``corrupt`` flips a byte of every chunk it sends."""

    images: dict[bytes, bytes] = field(default_factory=dict)
    reads: list[Read] = field(default_factory=list)
    mute: int = 0
    corrupt: bool = False

    def answer(self, body: bytes) -> bytes:
        md5, offset, length = body[:16], int.from_bytes(body[16:20], "big"), int.from_bytes(
            body[20:22], "big")
        self.reads.append(Read(md5, offset, length, time.monotonic()))
        if self.mute > 0:
            self.mute -= 1
            return b""
        image = self.images.get(md5)
        if image is None:
            return encode_frame(FrameType.UPDATE_ERROR, offset.to_bytes(4, "big") +
                                b"no image with this md5")
        chunk = bytearray(image[offset:offset + min(length, 256)])
        if self.corrupt and chunk:
            chunk[-1] ^= 0xFF
        return encode_frame(FrameType.UPDATE_DATA, offset.to_bytes(4, "big") + bytes(chunk))


class CableTap:
    """Sits on the cable between the node (its end: ``node_path``'s pty) and the gateway's
    bridge (``bridge_master``, the master of the pty the bridge opened): image reads go to
    ``chunks``, every other frame passes through unchanged, whole."""

    def __init__(self, node_path: Path, bridge_master: int, chunks: ChunkServer) -> None:
        self.node_fd = os.open(node_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.bridge_fd = bridge_master
        self.chunks = chunks
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _write(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        deadline = time.monotonic() + 10
        while view and time.monotonic() < deadline:
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                time.sleep(0.002)

    def _run(self) -> None:
        from_node = FrameDecoder(4096)
        from_bridge = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self.node_fd, self.bridge_fd], [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 65536)
                except (BlockingIOError, OSError):
                    continue
                if fd == self.node_fd:
                    for event in from_node.feed(data):
                        if not isinstance(event, Frame):
                            continue  # as the bridge would drop it
                        if event.type == FrameType.UPDATE_READ:
                            self._write(self.node_fd, self.chunks.answer(event.body))
                        else:
                            self._write(self.bridge_fd, encode_frame(event.type, event.body))
                else:
                    # Up to the last delimiter: an answer of ours never lands inside a frame.
                    from_bridge += data
                    cut = from_bridge.rfind(b"\x00") + 1
                    self._write(self.node_fd, from_bridge[:cut])
                    from_bridge = from_bridge[cut:]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        os.close(self.node_fd)
