"""Hostile clients against the running broker; it must stay up and serve the others.

Each test keeps a *canary* (a paho publisher and subscriber on the same broker) and checks
that messages still flow while and after the attack runs.

Sizes are configurable through the environment, with defaults short enough for CI:
  SECURITY_SLOWLORIS_SECONDS   how long the slow CONNECTs are spread over (default 60, the
                               issue's minute; the broker cuts them off at a quarter of it)
  SECURITY_CONNECTION_STORM    connections opened and dropped (default 10000)
  SECURITY_SUBSCRIPTION_STORM  subscriptions made by one client (default 20000)
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import time
import uuid

import pytest

from broker.protocol.codec import encode
from broker.protocol.packets import (
    Connect,
    Subscribe,
    SubscriptionOptions,
    Unsubscribe,
)

from .harness import TIMEOUT, Client

SLOWLORIS_SECONDS = float(os.environ.get("SECURITY_SLOWLORIS_SECONDS", "60"))
CONNECTION_STORM = int(os.environ.get("SECURITY_CONNECTION_STORM", "10000"))
SUBSCRIPTION_STORM = int(os.environ.get("SECURITY_SUBSCRIPTION_STORM", "20000"))


class Canary:
    """A subscriber and a publisher that prove the broker still routes messages."""

    def __init__(self, port: int) -> None:
        self.sub = Client(port, client_id="canary-sub")
        self.pub = Client(port, client_id="canary-pub")
        assert self.sub.connect() == 0 and self.pub.connect() == 0
        assert self.sub.subscribe("canary/#", qos=1) == [1]
        self.checks = 0

    def check(self) -> None:
        token = uuid.uuid4().hex.encode()
        self.pub.publish("canary/ping", token, qos=1)
        while self.sub.expect("canary/ping") != token:
            pass  # an earlier, late check's message; keep reading
        self.checks += 1

    def close(self) -> None:
        self.sub.close()
        self.pub.close()


@pytest.fixture
def under_attack(broker_thread):
    """``under_attack(**config)`` starts a broker and a canary; both are stopped afterwards."""
    canaries: list[Canary] = []

    def start(**config) -> tuple[object, Canary]:
        running = broker_thread(**config)
        canaries.append(Canary(running.ports["tcp"]))
        return running, canaries[-1]

    yield start
    for canary in canaries:
        canary.close()


def connect_packet(client_id: str, version: int = 4) -> bytes:
    return encode(Connect(protocol_level=version, client_id=client_id, keepalive=0), version)


def closed_by_peer(sock: socket.socket, timeout: float = TIMEOUT) -> bytes:
    """Read until the broker closes the connection; returns what it sent before."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


# --- slowloris ---------------------------------------------------------------------------


def test_slowloris_connect_byte_by_byte(under_attack) -> None:
    # The broker's CONNECT deadline is a quarter of the spread: every slow client must be
    # cut off long before its last byte.
    running, canary = under_attack(connect_timeout=max(1.0, SLOWLORIS_SECONDS / 4))
    port = running.ports["tcp"]
    packet = connect_packet("slow", 4)
    gap = SLOWLORIS_SECONDS / len(packet)

    async def slow_client() -> tuple[int, float]:
        """Send one byte per gap; returns (bytes sent before the broker hung up, seconds)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        start = time.monotonic()
        sent = 0
        try:
            for i in range(len(packet)):
                if reader.at_eof():
                    break
                writer.write(packet[i : i + 1])
                await writer.drain()
                sent += 1
                try:
                    if await asyncio.wait_for(reader.read(1), gap) == b"":
                        break
                except TimeoutError:
                    pass
        except ConnectionError:
            pass
        writer.close()
        return sent, time.monotonic() - start

    async def attack() -> list[tuple[int, float]]:
        slow = [asyncio.create_task(slow_client()) for _ in range(20)]
        while not all(t.done() for t in slow):
            await asyncio.to_thread(canary.check)  # the broker keeps serving meanwhile
            await asyncio.sleep(0.5)
        return [t.result() for t in slow]

    results = asyncio.run(attack())
    # every slow client was cut off before it could finish its CONNECT
    assert all(sent < len(packet) for sent, _ in results), results
    assert canary.checks >= 2
    canary.check()


# --- a 268 MB remaining length, announced and never sent ---------------------------------

MAX_REMAINING = b"\xff\xff\xff\x7f"  # 268,435,455: the largest remaining length MQTT allows


def test_huge_remaining_length_first_packet(under_attack) -> None:
    running, canary = under_attack()
    with socket.create_connection(("127.0.0.1", running.ports["tcp"]), timeout=TIMEOUT) as s:
        s.sendall(b"\x10" + MAX_REMAINING + b"\x00\x04MQTT")
        closed_by_peer(s)  # refused at once: no waiting for 268 MB
    canary.check()


@pytest.mark.parametrize("version", [4, 5])
def test_huge_remaining_length_after_connect(under_attack, version: int) -> None:
    running, canary = under_attack()
    with socket.create_connection(("127.0.0.1", running.ports["tcp"]), timeout=TIMEOUT) as s:
        s.sendall(connect_packet(f"huge-{version}", version))
        s.sendall(b"\x30" + MAX_REMAINING + b"\x00\x01t")  # PUBLISH header only
        data = closed_by_peer(s)
    assert data.startswith(b"\x20")  # CONNACK came before the hang-up
    if version == 5:
        # MQTT 5 says why: DISCONNECT with 0x95 Packet too large
        assert b"\xe0" in data and b"\x95" in data[data.index(b"\xe0") :]
    canary.check()


# --- 10,000 connections opened and dropped ------------------------------------------------


def test_connection_storm(under_attack) -> None:
    running, canary = under_attack()
    port = running.ports["tcp"]
    engine = running.broker.engine
    full_connect = connect_packet("storm", 4)

    async def one(i: int) -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return  # refused under load (backlog, rate limits): allowed
        try:
            style = i % 4
            if style == 1:
                writer.write(full_connect[:5])  # a partial CONNECT, then gone
            elif style == 2:
                writer.write(connect_packet(f"storm-{i}", 4))  # connected, then gone
            elif style == 3:
                writer.write(full_connect + b"\x30\x05\x00\x01")  # mid-PUBLISH
            if style:
                await writer.drain()
            sock = writer.get_extra_info("socket")
            if i % 8 == 7 and sock is not None:  # some end with a RST instead of a FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        finally:
            writer.close()

    async def storm() -> None:
        gate = asyncio.Semaphore(200)

        async def gated(i: int) -> None:
            async with gate:
                await one(i)

        batch = 1000
        for start in range(0, CONNECTION_STORM, batch):
            await asyncio.gather(*(gated(i) for i in range(start, min(start + batch, CONNECTION_STORM))))
            await asyncio.to_thread(canary.check)

    asyncio.run(storm())
    # all the dropped connections are gone from the broker: nothing leaks per connection
    deadline = time.monotonic() + 60
    while (left := running.loop.call(lambda: len(engine.connections))) > 2:
        assert time.monotonic() < deadline, left
        time.sleep(0.2)
    canary.check()


# --- a topic with 10,000 levels ------------------------------------------------------------


def test_topic_with_ten_thousand_levels(under_attack) -> None:
    running, canary = under_attack()
    port = running.ports["tcp"]
    deep = "/".join(f"l{i % 10}" for i in range(10_000))  # 29,999 bytes: a valid topic
    exact = Client(port)
    wild = Client(port)
    late = Client(port)
    try:
        assert exact.connect() == 0 and wild.connect() == 0
        assert exact.subscribe(deep, qos=1) == [1]
        assert wild.subscribe("l0/+/#", qos=1) == [1]
        deep_filter = "/".join(["+"] * 9_999 + ["#"])
        assert wild.subscribe(deep_filter, qos=1) == [1]
        canary.pub.publish(deep, b"deep", qos=1, retain=True)
        assert exact.expect(deep) == b"deep"
        assert wild.expect(deep) == b"deep"
        # the retained copy is found again by a later '#' subscriber
        assert late.connect() == 0
        assert late.subscribe("#", qos=1) == [1]
        assert late.expect(deep) == b"deep"
        canary.check()
    finally:
        for c in (exact, wild, late):
            c.close()


# --- a subscription storm -----------------------------------------------------------------


def test_subscription_storm(under_attack) -> None:
    running, canary = under_attack()
    port = running.ports["tcp"]
    engine = running.broker.engine
    per_packet = 100

    def filters(start: int) -> list[str]:
        return [
            f"storm/{n % 97}/{n}/+" if n % 3 else f"storm/{n}/#"
            for n in range(start, min(start + per_packet, SUBSCRIPTION_STORM))
        ]

    async def storm() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(connect_packet("storm-sub", 4))
        assert (await asyncio.wait_for(reader.readexactly(4), TIMEOUT))[:1] == b"\x20"
        # pipeline every SUBSCRIBE without waiting, then read all SUBACKs
        packets = SUBSCRIPTION_STORM // per_packet
        for k in range(packets):
            topics = [(f, SubscriptionOptions(qos=1)) for f in filters(k * per_packet)]
            writer.write(encode(Subscribe(k + 1, topics), 4))
            if k % 20 == 0:
                await writer.drain()
                await asyncio.to_thread(canary.check)
        suback_bytes = packets * (4 + per_packet)  # header(2) + id(2) + one code each
        acks = await asyncio.wait_for(reader.readexactly(suback_bytes), 120)
        assert acks.count(b"\x90\x66") == packets  # SUBACK, remaining length 102
        # a message for one of them is delivered
        await asyncio.to_thread(canary.pub.publish, "storm/5/5/x", b"hit", 1)
        header = await asyncio.wait_for(reader.readexactly(2), TIMEOUT)
        assert header[0] >> 4 == 3
        await asyncio.wait_for(reader.readexactly(header[1]), TIMEOUT)
        # and everything can be unsubscribed again
        for k in range(packets):
            writer.write(encode(Unsubscribe(10_000 + k, filters(k * per_packet)), 4))
        await writer.drain()
        await asyncio.wait_for(reader.readexactly(packets * 4), 120)
        writer.close()

    asyncio.run(storm())
    canary.check()
    subs = running.loop.call(lambda: engine.subscriptions.count)
    assert subs < 10, subs  # the storm's subscriptions are gone
