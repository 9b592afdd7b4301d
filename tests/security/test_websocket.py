"""The WebSocket transport with real clients (paho, MQTT.js) in front of a TCP broker.

These use Debian's mosquitto behind a TCP relay as the broker, so they test our WebSocket
layer alone; tests/security/test_e2e_transports.py runs the same clients against our broker.
"""

from __future__ import annotations

import asyncio
import socket

import paho.mqtt.client as mqtt
import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.frame_protocol import CloseReason

from broker.transports.websocket import start_websocket_server

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


def raw_upgrade(port: int, path: str = "/mqtt", origin: str | None = None,
                headers: str | None = None) -> socket.socket:
    """A socket that has sent a WebSocket upgrade request (the response is left unread).
    ``headers`` replaces the request's header lines (for malformed requests)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    extra = f"Origin: {origin}\r\n" if origin else ""
    if headers is None:
        headers = ("Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                   f"Sec-WebSocket-Protocol: mqtt\r\n{extra}")
    sock.sendall(f"GET {path} HTTP/1.1\r\n{headers}\r\n".encode())
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


def client_side(received: bytes = b"") -> Connection:
    """wsproto's client end of an upgraded connection: frames we send, events we get."""
    return Connection(ConnectionType.CLIENT, trailing_data=received)


CONNECT_311 = bytes.fromhex("101000044d5154540402003c0004") + b"wsrw"


def test_raw_client_ping_fragments_and_close(ws_front: int) -> None:
    sock = raw_upgrade(ws_front)
    head, rest = read_head(sock)
    assert head.startswith(b"HTTP/1.1 101") and b"Sec-WebSocket-Protocol: mqtt" in head
    ws = client_side(rest)
    # CONNECT split over three fragments with a ping in between
    sock.sendall(
        ws.send(BytesMessage(CONNECT_311[:3], message_finished=False))
        + ws.send(Ping(b"are you there"))
        + ws.send(BytesMessage(CONNECT_311[3:10], message_finished=False))
        + ws.send(BytesMessage(CONNECT_311[10:]))
    )
    events: list = []
    while not any(isinstance(e, BytesMessage) and bytes(e.data).startswith(b"\x20")
                  for e in events):
        ws.receive_data(sock.recv(4096))
        events += ws.events()
    assert any(isinstance(e, Pong) and e.payload == b"are you there" for e in events)
    connack = b"".join(bytes(e.data) for e in events if isinstance(e, BytesMessage))
    assert connack[:4] == b"\x20\x02\x00\x00"
    sock.sendall(ws.send(CloseConnection(CloseReason.NORMAL_CLOSURE)))
    ws.receive_data(read_all(sock))
    assert [(type(e), e.code) for e in ws.events()] == [(CloseConnection, 1000)]
    sock.close()


def test_text_frames_are_refused(ws_front: int) -> None:
    sock = raw_upgrade(ws_front)
    _, rest = read_head(sock)
    ws = client_side(rest)
    sock.sendall(ws.send(TextMessage(CONNECT_311.decode("latin-1"))))
    ws.receive_data(read_all(sock))
    events = list(ws.events())
    assert isinstance(events[-1], CloseConnection)
    assert events[-1].code == CloseReason.UNSUPPORTED_DATA
    sock.close()


def test_unmasked_client_frames_are_a_protocol_error(ws_front: int) -> None:
    sock = raw_upgrade(ws_front)
    _, rest = read_head(sock)
    sock.sendall(b"\x82\x02ab")  # a binary frame without the mask a client must use
    ws = client_side(rest)
    ws.receive_data(read_all(sock))
    assert list(ws.events())[-1].code == CloseReason.PROTOCOL_ERROR
    sock.close()


@pytest.mark.parametrize("path", ["/", "/mqtt", "/mqtt?client=x"])
def test_root_and_mqtt_paths_are_accepted(ws_front: int, path: str) -> None:
    """ws://host:port asks for /; paho and most apps ask for /mqtt."""
    sock = raw_upgrade(ws_front, path)
    assert read_head(sock)[0].startswith(b"HTTP/1.1 101")
    sock.close()


def test_wrong_path_gets_404(ws_front: int) -> None:
    sock = raw_upgrade(ws_front, "/ws")
    reply = read_all(sock)
    assert reply.startswith(b"HTTP/1.1 404 ") and b"/mqtt" in reply  # says where to go
    sock.close()


GOOD = {"Host": "gw.local:9001", "Upgrade": "websocket", "Connection": "keep-alive, Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"}


def headers_with(**changes: str | None) -> str:
    fields = {**GOOD, **{k.replace("_", "-"): v for k, v in changes.items()}}
    return "".join(f"{k}: {v}\r\n" for k, v in fields.items() if v is not None)


@pytest.mark.parametrize(("headers", "status"), [
    (headers_with(Upgrade=None), b"400"),
    (headers_with(Connection="keep-alive"), b"400"),
    (headers_with(Sec_WebSocket_Version="8"), b"426"),
    (headers_with(Sec_WebSocket_Key=None), b"400"),
    (headers_with(Host=None), b"400"),
    (headers_with(Sec_WebSocket_Protocol="stomp"), b"400"),
    ("X-Long: " + "a" * 9000 + "\r\n", b"431"),
])
def test_bad_upgrades_are_refused(ws_front: int, headers: str, status: bytes) -> None:
    sock = raw_upgrade(ws_front, headers=headers)
    reply = read_all(sock)
    assert reply.startswith(b"HTTP/1.1 " + status), reply
    sock.close()


def test_endless_request_is_cut_off(ws_front: int) -> None:
    sock = socket.create_connection(("127.0.0.1", ws_front), timeout=30)
    sock.sendall(b"GET /mqtt HTTP/1.1\r\n" + b"X" * 20000)  # never a blank line
    assert read_all(sock).startswith(b"HTTP/1.1 431")
    sock.close()


def test_silent_client_is_dropped_after_handshake_timeout(ws_front: int) -> None:
    sock = socket.create_connection(("127.0.0.1", ws_front), timeout=60)
    sock.sendall(b"GET /mqtt HTTP/1.1\r\n")  # ...and nothing more
    assert read_all(sock) == b""  # closed by the server (2 s in this fixture)
    sock.close()


def test_client_close_reaches_inner_protocol() -> None:
    """The broker side sees connection_lost once, after the client's Close; frames sent
    right behind the request (before the 101 came back) are not lost."""

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
        ws = client_side()
        writer.write(
            b"GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            + ws.send(BytesMessage(b"abc"))
            + ws.send(CloseConnection(CloseReason.GOING_AWAY))
        )
        data = await asyncio.wait_for(reader.read(), 30)
        head, _, frames = data.partition(b"\r\n\r\n")
        ws.receive_data(frames)
        events = list(ws.events())
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


def test_mqttjs_without_a_path(ws_front: int, mqttjs) -> None:
    """mqtt.connect("ws://host:port"): MQTT.js asks for /, which used to get a bare 404."""
    result = mqttjs(f"ws://127.0.0.1:{ws_front}", 4, "dash/board")
    assert result["connack"] == 0 and result["received"] == "hello from MQTT.js"
