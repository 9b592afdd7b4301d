"""A deliberately faulty MQTT broker for the load generator's own tests: it forwards every
QoS 0 PUBLISH to each subscriber twice, which the generator must report as incomplete."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


async def _read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    header = (await reader.readexactly(1))[0]
    length, mult = 0, 1
    while True:
        digit = (await reader.readexactly(1))[0]
        length += (digit & 127) * mult
        mult *= 128
        if not digit & 128:
            return header, await reader.readexactly(length)


def _packet(header: int, body: bytes) -> bytes:
    out, n = bytearray([header]), len(body)
    while True:
        digit, n = n % 128, n // 128
        out.append(digit | (128 if n else 0))
        if not n:
            return bytes(out) + body


class DuplicatingBroker:
    """Serves MQTT 3.1.1 CONNECT, SUBSCRIBE (any filter matches everything) and QoS 0
    PUBLISH, delivering each message twice."""

    def __init__(self) -> None:
        self.subscribers: list[asyncio.StreamWriter] = []
        self.tasks: set[asyncio.Task[None]] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            while True:
                header, body = await _read_packet(reader)
                kind = header >> 4
                if kind == 1:
                    writer.write(b"\x20\x02\x00\x00")
                elif kind == 8:
                    writer.write(_packet(0x90, body[:2] + b"\x00"))
                    self.subscribers.append(writer)
                elif kind == 3:
                    for sub in self.subscribers:
                        sub.write(_packet(header, body) * 2)
                elif kind == 14:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if writer in self.subscribers:
                self.subscribers.remove(writer)
            writer.close()
            self.tasks.discard(task)

    async def serve(self, started: Callable[[int], None], stop: threading.Event) -> None:
        """Listens on a free loopback port until ``stop`` is set, then ends every
        connection before returning (no task is left for the garbage collector)."""
        server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        started(server.sockets[0].getsockname()[1])
        while not stop.is_set():
            await asyncio.sleep(0.05)
        server.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await server.wait_closed()


@contextmanager
def duplicating_broker() -> Iterator[int]:
    """Runs a DuplicatingBroker on a free loopback port in a thread; yields the port."""
    ports: list[int] = []
    ready, stop = threading.Event(), threading.Event()

    def started(port: int) -> None:
        ports.append(port)
        ready.set()

    thread = threading.Thread(
        target=lambda: asyncio.run(DuplicatingBroker().serve(started, stop)), daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("fake broker did not start")
    try:
        yield ports[0]
    finally:
        stop.set()
        thread.join(30)
