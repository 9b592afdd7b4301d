"""Hostile input: garbage, truncated and oversized packets close only the offending
connection; other clients carry on and the broker process stays up."""

from __future__ import annotations

import itertools
import random
import socket
from collections.abc import Callable, Iterator

import pytest
from support.ports import HOST
from support.processes import OurBroker
from support.rawmqtt import RawClient

from broker.protocol import encode
from broker.protocol.packets import Connect, Publish, Subscribe, SubscriptionOptions

Raw = Callable[..., RawClient]


class Canary:
    """A subscriber and a publisher that must keep working whatever else happens."""

    def __init__(self, sub: RawClient, pub: RawClient, topic: str) -> None:
        self.sub, self.pub, self.topic = sub, pub, topic
        self.count = itertools.count()

    def check(self) -> None:
        payload = f"alive {next(self.count)}".encode()
        self.pub.publish(self.topic, payload, 1)
        assert self.sub.receive().payload == payload


@pytest.fixture
def target(make_broker_process) -> OurBroker:
    """A broker process of its own with a small packet limit and a short CONNECT timeout."""
    return make_broker_process("--max-packet-size", "65536", "--connect-timeout", "2")


@pytest.fixture
def canary(target: OurBroker, connected: Raw, topic: str) -> Iterator[Canary]:
    sub = connected(5, port=target.port, client_id="canary-sub")
    sub.subscribe((topic, 1))
    c = Canary(sub, connected(4, port=target.port, client_id="canary-pub"), topic)
    c.check()
    yield c
    c.check()
    assert target.alive()


def attack(port: int, data: bytes, wait_close: bool = True) -> bytes:
    """Send ``data`` on a new connection; returns what the broker sent before closing."""
    s = socket.create_connection((HOST, port), timeout=10)
    try:
        s.sendall(data)
        if not wait_close:
            return b""
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return got
            got += chunk
    except (ConnectionResetError, BrokenPipeError):
        return b""
    finally:
        s.close()


CONNECT5 = encode(Connect(5, "hostile"), 5)
CONNECT4 = encode(Connect(4, "hostile4"), 4)


def test_random_garbage(target: OurBroker, canary: Canary) -> None:
    rng = random.Random(1883)
    for _ in range(40):
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        # Garbage may look like the start of a long packet: do not wait for the close.
        attack(target.port, blob, wait_close=False)
    canary.check()
    for _ in range(20):
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        attack(target.port, CONNECT5 + blob, wait_close=False)
    canary.check()


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x00",  # reserved packet type
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x10\xff\xff\xff\xff\x7f",  # remaining length of five bytes
        b"\x10\x80\x80\x80\x70",  # 234 MB CONNECT, above any maximum packet size
        b"\x20\x02\x00\x00",  # a server packet first
    ],
    ids=["type-0", "http", "length-5-bytes", "huge-connect", "connack-first"],
)
def test_bad_first_packet_is_closed(target: OurBroker, canary: Canary, data: bytes) -> None:
    attack(target.port, data)  # returns only once the broker closed the connection
    canary.check()


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x00",
        b"\x30\xff\xff\xff\xff\x7f",
        b"\x30\x80\x80\x80\x01",  # 2 MB PUBLISH: above --max-packet-size 65536
        b"\x32\x03\x00\x01a",  # QoS 1 without packet identifier
        b"\x36\x04\x00\x01a\x00",  # QoS 3
        b"\x82\x02\x00\x01",  # SUBSCRIBE without filters
        b"\x20\x02\x00\x00",  # CONNACK from a client
        CONNECT5,  # second CONNECT
    ],
    ids=[
        "type-0",
        "length-5-bytes",
        "too-large",
        "no-id",
        "qos3",
        "empty-sub",
        "connack",
        "connect",
    ],
)
def test_bad_packet_after_connect_is_closed_with_reason(
    target: OurBroker, canary: Canary, data: bytes
) -> None:
    got = attack(target.port, CONNECT5 + data)
    # CONNACK, then a DISCONNECT with an error reason (0x81, 0x82 or 0x95).
    assert got[0] == 0x20
    rest = got[2 + got[1] :]
    assert rest[:1] == b"\xe0" and rest[2] in (0x81, 0x82, 0x95), rest
    canary.check()


def test_truncated_packets_then_hangup(target: OurBroker, canary: Canary) -> None:
    publish = encode(Publish(canary.topic, b"x" * 100, 1, packet_id=1), 4)
    subscribe = encode(Subscribe(1, [("#", SubscriptionOptions(1))]), 4)
    for whole in (CONNECT4, CONNECT4 + publish, CONNECT4 + subscribe):
        for cut in (1, 2, len(whole) // 2, len(whole) - 1):
            attack(target.port, whole[:cut], wait_close=False)
    canary.check()


def test_half_packet_is_not_processed(
    target: OurBroker, canary: Canary, connected: Raw
) -> None:
    """A PUBLISH cut short is never routed, even when the sender hangs up."""
    publish = encode(Publish(canary.topic, b"partial", 1, packet_id=1), 4)
    attack(target.port, CONNECT4 + publish[:-3], wait_close=False)
    canary.check()  # the canary's own message arrives, and nothing before it


def test_silent_connection_is_dropped_without_connect(
    target: OurBroker, canary: Canary
) -> None:
    assert attack(target.port, b"") == b""  # closed by the CONNECT timeout
    canary.check()


def test_byte_by_byte_client_works(target: OurBroker, canary: Canary) -> None:
    s = socket.create_connection((HOST, target.port), timeout=10)
    try:
        for b in CONNECT4 + encode(Publish(canary.topic, b"drip", 0), 4):
            s.send(bytes((b,)))
        assert s.recv(4) == b"\x20\x02\x00\x00"
        assert canary.sub.receive().payload == b"drip"
    finally:
        s.close()


def test_abrupt_hangups_mid_flow(target: OurBroker, canary: Canary, raw: Raw) -> None:
    """Connections dropped in the middle of QoS 2 exchanges, subscribed or not."""
    for i in range(15):
        c = raw(5, port=target.port)
        c.connect(f"quitter-{i}", properties={"session_expiry_interval": 5 if i % 2 else 0})
        c.subscribe((canary.topic + "/quit", 2))
        c.send(Publish(canary.topic + "/quit", b"half", 2, packet_id=7))
        c.close()
    # Whatever became of the quitters' sessions and messages, the canary still works.
    canary.check()


def test_reader_that_never_reads_does_not_block_others(
    target: OurBroker, canary: Canary, connected: Raw
) -> None:
    stuck = socket.create_connection((HOST, target.port), timeout=10)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        stuck.sendall(CONNECT4 + encode(Subscribe(1, [(canary.topic, SubscriptionOptions(1))]), 4))
        pub = connected(4, port=target.port)
        for _ in range(300):
            pub.publish(canary.topic, bytes(8000), 1)
        for _ in range(300):
            assert len(canary.sub.receive().payload) == 8000
        canary.check()
    finally:
        stuck.close()


def test_many_connections_at_once(target: OurBroker, canary: Canary) -> None:
    socks = []
    try:
        for i in range(200):
            s = socket.create_connection((HOST, target.port), timeout=10)
            s.sendall(encode(Connect(4, f"crowd-{i}"), 4))
            socks.append(s)
        for s in socks:
            assert s.recv(4) == b"\x20\x02\x00\x00"
        canary.check()
    finally:
        for s in socks:
            s.close()
    canary.check()


@pytest.mark.parametrize(
    "data",
    [b"GET / HTTP/1.1\r\n", b"\x16\x03\x01\x02\x00\x01", b"\x30\x7f", b"SSH-2.0-x\r\n"],
    ids=["http", "tls-hello", "publish-start", "ssh"],
)
def test_non_connect_first_byte_is_closed_at_once(make_broker_process, data: bytes) -> None:
    """MQTT-3.1.0-1: the first byte already shows the packet is not CONNECT; the stray
    client is closed without waiting for a whole packet or the (here 120 s) CONNECT timeout."""
    b = make_broker_process("--connect-timeout", "120")
    assert attack(b.port, data) == b""  # attack() fails after 10 s if the broker waits
    assert b.alive()
