"""The WebSocket transport with real clients (paho, MQTT.js) in front of a TCP broker.

These use Debian's mosquitto behind a TCP relay as the broker, so they test our WebSocket
layer alone; tests/security/test_e2e_transports.py runs the same clients against our broker.
"""

from __future__ import annotations

import asyncio
import socket

import paho.mqtt.client as mqtt
import pytest

from broker.transports.websocket import start_websocket_server
from broker.transports.ws_frames import CloseCode, FrameParser, Opcode, encode_frame

from .harness import Client, LoopThread, TcpRelay


@pytest.fixture
def ws_front(mosquitto):
    """A WebSocket listener on a free port relaying to a fresh mosquitto; yields its port."""
    backend = mosquitto("allow_anonymous true\n")
    loop = LoopThread()
    server = loop.run(
        start_websocket_server(lambda: TcpRelay(backend), "127.0.0.1", 0, handshake_timeout=2.0)
    )
    yield server.sockets[0].getsockname()[1]
    loop.call(server.close)  # asyncio servers are not thread-safe: close on the loop
    loop.run(server.wait_closed())
    loop.stop()


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5])
def test_paho_over_websockets(ws_front: int, protocol: int) -> None:
    sub = Client(ws_front, transport="websockets", protocol=protocol)
    pub = Client(ws_front, transport="websockets", protocol=protocol)
    try:
        assert sub.connect() == 0 and pub.connect() == 0
        assert sub.subscribe("home/+/temperature", qos=1) == [1]
        big = bytes(range(256)) * 400  # > 64 KiB: 64-bit frame lengths both ways
        pub.publish("home/kitchen/temperature", b"21.5")
        pub.publish("home/attic/temperature", big)
        assert sub.expect("home/kitchen/temperature") == b"21.5"
        assert sub.expect("home/attic/temperature") == big
    finally:
        sub.close()
        pub.close()


def raw_upgrade(port: int, path: str = "/mqtt", origin: str | None = None) -> socket.socket:
    """A socket that has sent a WebSocket upgrade request (the response is left unread)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    extra = f"Origin: {origin}\r\n" if origin else ""
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: mqtt\r\n{extra}\r\n".encode()
    )
    return sock


def read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def read_all(sock: socket.socket) -> bytes:
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


CONNECT_311 = bytes.fromhex("101000044d5154540402003c0004") + b"wsrw"


def test_raw_client_ping_fragments_and_close(ws_front: int) -> None:
    sock = raw_upgrade(ws_front)
    head, rest = read_head(sock)
    assert head.startswith(b"HTTP/1.1 101") and b"Sec-WebSocket-Protocol: mqtt" in head
    # CONNECT split over three fragments with a ping in between
    wire = (
        encode_frame(Opcode.BINARY, CONNECT_311[:3], fin=False, mask=b"\1\2\3\4")
        + encode_frame(Opcode.PING, b"are you there", mask=b"\5\6\7\x08")
        + encode_frame(Opcode.CONTINUATION, CONNECT_311[3:10], fin=False, mask=b"abcd")
        + encode_frame(Opcode.CONTINUATION, CONNECT_311[10:], mask=b"efgh")
    )
    sock.sendall(wire)
    parser = FrameParser(expect_masked=False)
    events = parser.feed(rest)
    while not any(getattr(e, "data", b"").startswith(b"\x20") for e in events):
        events += parser.feed(sock.recv(4096))
    kinds = [type(e).__name__ for e in events]
    assert "Pong" in kinds
    connack = b"".join(e.data for e in events if type(e).__name__ == "Data")
    assert connack[:4] == b"\x20\x02\x00\x00"
    sock.sendall(encode_frame(Opcode.CLOSE, b"\x03\xe8", mask=b"abcd"))
    tail = parser.feed(read_all(sock))
    assert [(type(e).__name__, getattr(e, "code", None)) for e in tail] == [("Close", 1000)]
    sock.close()


def test_text_frames_are_refused(ws_front: int) -> None:
    sock = raw_upgrade(ws_front)
    _, rest = read_head(sock)
    sock.sendall(encode_frame(Opcode.TEXT, CONNECT_311, mask=b"abcd"))
    events = FrameParser(expect_masked=False).feed(rest + read_all(sock))
    assert events[-1].code == CloseCode.UNSUPPORTED_DATA
    sock.close()


def test_wrong_path_gets_404(ws_front: int) -> None:
    sock = raw_upgrade(ws_front, "/")
    assert read_all(sock).startswith(b"HTTP/1.1 404 ")
    sock.close()


def test_silent_client_is_dropped_after_handshake_timeout(ws_front: int) -> None:
    sock = socket.create_connection(("127.0.0.1", ws_front), timeout=60)
    sock.sendall(b"GET /mqtt HTTP/1.1\r\n")  # ...and nothing more
    assert read_all(sock) == b""  # closed by the server (2 s in this fixture)
    sock.close()


def test_client_close_reaches_inner_protocol() -> None:
    """The broker side sees connection_lost once, after the client's Close."""

    class Inner(asyncio.Protocol):
        def __init__(self) -> None:
            self.received, self.lost = b"", 0

        def connection_made(self, transport) -> None:
            self.transport = transport
            transport.write(b"hello")

        def data_received(self, data: bytes) -> None:
            self.received += data

        def connection_lost(self, exc) -> None:
            self.lost += 1

    async def scenario() -> Inner:
        inner = Inner()
        server = await start_websocket_server(lambda: inner, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET /mqtt HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            + encode_frame(Opcode.BINARY, b"abc", mask=b"wxyz")
            + encode_frame(Opcode.CLOSE, b"\x03\xe9", mask=b"wxyz")
        )
        data = await asyncio.wait_for(reader.read(), 30)
        head, _, frames = data.partition(b"\r\n\r\n")
        events = FrameParser(expect_masked=False).feed(frames)
        assert [getattr(e, "data", getattr(e, "code", None)) for e in events] == [b"hello", 1001]
        writer.close()
        for _ in range(100):
            if inner.lost:
                break
            await asyncio.sleep(0.05)
        server.close()
        await server.wait_closed()
        return inner

    inner = asyncio.run(scenario())
    assert inner.received == b"abc" and inner.lost == 1


@pytest.mark.parametrize("version", [4, 5])
def test_mqttjs_over_websockets(ws_front: int, mqttjs, version: int) -> None:
    result = mqttjs(f"ws://127.0.0.1:{ws_front}/mqtt", version, "dash/board")
    assert result == {
        "connack": 0, "granted": [1], "topic": "dash/board", "received": "hello from MQTT.js"
    }
