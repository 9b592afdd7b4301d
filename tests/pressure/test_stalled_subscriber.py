"""Issue 3 §3: a subscriber that stops reading does not grow broker memory without bound,
and an acknowledged QoS 1 message is never dropped (Mosquitto's max_queued_messages drops)."""

from __future__ import annotations

import time

from support.processes import OurBroker
from support.rawmqtt import RawClient

from broker.protocol.packets import Packet, Pingreq, Pingresp, Puback, Publish

PAYLOAD = b"x" * 200
N = 100_000
# Queue limit 1000 x 200 B, plus socket buffers and Python's slack: far below what 100k
# messages (20 MB of payload alone) would cost if queued.
RSS_GROWTH_LIMIT_KB = 12_000


def _client(port: int, client_id: str, version: int = 4, rcvbuf: int | None = None) -> RawClient:
    c = RawClient(port, version, rcvbuf)
    c.connect(client_id)
    return c


def _read(c: RawClient, timeout: float) -> Packet | None:
    """The next packet, or None when nothing arrives in ``timeout`` seconds."""
    try:
        return c.recv(timeout)
    except TimeoutError:
        return None


def _flood(pub: RawClient, qos: int) -> int:
    """Publish up to N messages; returns how many were written before the broker pushed back."""
    pub.sock.settimeout(3)
    sent = 0
    try:
        for i in range(N):
            pub.send(Publish("t/a", PAYLOAD, qos, packet_id=(i % 65535 + 1) if qos else 0))
            sent += 1
    except TimeoutError:
        pass
    return sent


def _read_all(sub: RawClient, expected: int | None = None, quiet: float = 5.0) -> list[bytes]:
    """Read PUBLISHes (acking QoS 1) until ``expected`` have arrived, or, when the count is
    unknown, until the broker has been quiet for ``quiet`` seconds."""
    got = []
    deadline = time.monotonic() + 120
    while expected is None or len(got) < expected:
        p = _read(sub, quiet if expected is None else max(0.1, deadline - time.monotonic()))
        if p is None:
            break
        if p.type == 3:
            got.append(p.payload)
            if p.qos:
                sub.send(Puback(p.packet_id))
    return got


def _read_acks(pub: RawClient, expected: int) -> list[int]:
    """Reason codes of the next ``expected`` PUBACKs (fewer if 120 s pass)."""
    codes = []
    deadline = time.monotonic() + 120
    while len(codes) < expected:
        p = _read(pub, max(0.1, deadline - time.monotonic()))
        if p is None:
            break
        assert p.type == 4, p
        codes.append(p.reason_code)
    return codes


def _sys_value(port: int, name: str) -> int:
    c = _client(port, "sys-reader")
    c.subscribe((f"$SYS/broker/{name}", 0))
    p = c.expect(Publish, 5)
    c.close()
    return int(p.payload)


def test_qos0_flood_to_stalled_subscriber_is_bounded_and_counted(
    small_queue_broker: OurBroker,
) -> None:
    port = small_queue_broker.port
    sub = _client(port, "stalled", rcvbuf=4096)
    assert sub.subscribe(("t/#", 0)).reason_codes == [0]
    pub = _client(port, "pub")
    before = small_queue_broker.rss_kb()
    assert _flood(pub, 0) == N
    # A PINGREQ round trip proves the broker has read the whole flood.
    pub.send(Pingreq())
    assert pub.expect(Pingresp, timeout=30)
    grown = small_queue_broker.rss_kb() - before
    assert grown < RSS_GROWTH_LIMIT_KB, f"RSS grew {grown} kB"
    got = _read_all(sub)
    dropped = _sys_value(port, "publish/messages/dropped")
    assert dropped > 0
    assert len(got) + dropped == N


def test_qos1_publisher_v311_is_held_back_and_nothing_acknowledged_is_lost(
    small_queue_broker: OurBroker,
) -> None:
    port = small_queue_broker.port
    sub = _client(port, "stalled", rcvbuf=4096)
    assert sub.subscribe(("t/#", 1)).reason_codes == [1]
    pub = _client(port, "pub")
    before = small_queue_broker.rss_kb()
    sent = _flood(pub, 1)
    assert sent < N, "the broker never pushed back"
    grown = small_queue_broker.rss_kb() - before
    assert grown < RSS_GROWTH_LIMIT_KB, f"RSS grew {grown} kB"
    # The stalled subscriber catches up: every message the broker took arrives, and then
    # every one of them is acknowledged to the publisher.
    got = _read_all(sub, expected=sent)
    assert _read_acks(pub, sent) == [0] * sent
    assert len(got) == sent


def test_qos1_publisher_v5_is_refused_with_quota_exceeded(
    small_queue_broker: OurBroker,
) -> None:
    port = small_queue_broker.port
    sub = _client(port, "stalled", rcvbuf=4096)
    assert sub.subscribe(("t/#", 1)).reason_codes == [1]
    pub = _client(port, "pub5", version=5)
    sent = 0
    pub.sock.settimeout(3)
    try:
        for i in range(20_000):
            pub.send(Publish("t/a", b"%d" % i, 1, packet_id=i % 65535 + 1))
            sent += 1
    except TimeoutError:
        pass
    codes = _read_acks(pub, sent)
    assert len(codes) == sent
    refused = codes.count(0x97)
    accepted = codes.count(0)
    assert refused > 0
    assert accepted + refused == sent
    got = _read_all(sub, expected=accepted)
    assert len(got) == accepted  # every accepted message delivered, refused ones never
