"""Hypothesis fuzz of the codec and engine together, sans-IO, bounded in time.

A fuzzed connection sends a CONNECT followed by well-formed, mutated and random packets.
Properties: no exception escapes the engine; the two honest connections beside it (a
publisher and a '#' subscriber) keep working; state stays bounded.

Size: SECURITY_FUZZ_EXAMPLES (default 1000 examples, about 10 s; more on a loaded machine).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.clock import FakeClock

from broker.config import BrokerConfig
from broker.engine.engine import Engine
from broker.protocol.codec import encode
from broker.protocol.packets import (
    Connect,
    Disconnect,
    Pingreq,
    Puback,
    Publish,
    Pubrec,
    Pubrel,
    Subscribe,
    SubscriptionOptions,
    Unsubscribe,
    Will,
)

EXAMPLES = int(os.environ.get("SECURITY_FUZZ_EXAMPLES", "1000"))
MAX_PACKET = 64 * 1024


def drain(conn) -> bytes:
    out = b"".join(conn.out)
    conn.out.clear()
    return out


levels = st.sampled_from(["a", "b", "home", "+", "#", "", "$SYS", "é", "x" * 50])
topics = st.lists(levels, min_size=1, max_size=6).map("/".join)
payloads = st.binary(max_size=300)
packet_ids = st.integers(min_value=0, max_value=65535)
qos = st.integers(min_value=0, max_value=3)
props = st.sampled_from([
    {},
    {"message_expiry_interval": 1},
    {"topic_alias": 1},
    {"topic_alias": 70000 % 65536},
    {"user_property": [("k", "v")]},
    {"subscription_identifier": [5]},
    {"content_type": "text/plain"},
])

packets = st.one_of(
    st.builds(Publish, topic=topics, payload=payloads, qos=qos, retain=st.booleans(),
              dup=st.booleans(), packet_id=packet_ids, properties=props),
    st.builds(Subscribe, packet_id=packet_ids, topics=st.lists(
        st.tuples(topics, st.builds(SubscriptionOptions, qos=qos, no_local=st.booleans(),
                                    retain_as_published=st.booleans(),
                                    retain_handling=st.integers(0, 3))),
        max_size=4), properties=props),
    st.builds(Unsubscribe, packet_id=packet_ids, topics=st.lists(topics, max_size=4)),
    st.builds(Puback, packet_id=packet_ids),
    st.builds(Pubrec, packet_id=packet_ids),
    st.builds(Pubrel, packet_id=packet_ids),
    st.builds(Pingreq),
    st.builds(Disconnect, reason_code=st.sampled_from([0, 4, 0x81])),
    st.builds(Connect, protocol_level=st.sampled_from([3, 4, 5]), client_id=st.text(max_size=8)),
)


@st.composite
def chunks(draw, version: int) -> bytes:
    """One piece of the fuzzed stream: a packet, a mutated packet, or raw bytes."""
    kind = draw(st.sampled_from(["packet", "mutated", "truncated", "raw", "header"]))
    if kind == "raw":
        return draw(st.binary(min_size=1, max_size=64))
    if kind == "header":  # a fixed header announcing a length, then whatever
        return bytes([draw(st.integers(0, 255))]) + draw(st.binary(min_size=1, max_size=6))
    try:
        data = encode(draw(packets), version)
    except Exception:  # the strategy can build packets the encoder refuses; use raw bytes
        return draw(st.binary(min_size=1, max_size=32))
    if kind == "truncated":
        return data[: draw(st.integers(0, len(data)))]
    if kind == "mutated":
        data = bytearray(data)
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        return bytes(data)
    return data


@st.composite
def sessions(draw) -> tuple[bytes, list[bytes]]:
    version = draw(st.sampled_from([3, 4, 5]))
    will = draw(st.one_of(st.none(), st.builds(Will, topic=topics, payload=payloads, qos=qos)))
    connect = Connect(
        protocol_level=version,
        protocol_name="MQIsdp" if version == 3 else "MQTT",
        client_id=draw(st.sampled_from(["fuzz", "watcher", "pub", ""])),
        clean_start=draw(st.booleans()),
        keepalive=draw(st.integers(0, 5)),
        will=will,
        username=draw(st.one_of(st.none(), st.just("u"))),
    )
    try:
        first = encode(connect, version)
    except Exception:
        first = encode(Connect(protocol_level=version, client_id="fuzz",
                               protocol_name="MQIsdp" if version == 3 else "MQTT"), version)
    return first, draw(st.lists(chunks(version), max_size=12))


def honest(engine: Engine, client_id: str, *after) -> object:
    conn = engine.connect("127.0.0.1:1", "default")
    conn.data_received(encode(Connect(protocol_level=4, client_id=client_id), 4))
    for packet in after:
        conn.data_received(encode(packet, 4))
    assert drain(conn).startswith(b"\x20\x02\x00\x00")  # CONNACK accepted
    return conn


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(session=sessions(), splits=st.lists(st.integers(1, 50), max_size=5))
def test_fuzzed_connection_never_hurts_the_others(session, splits) -> None:
    clock = FakeClock(0.0)
    engine = Engine(BrokerConfig(sys_interval=0, max_packet_size=MAX_PACKET), clock=clock)
    watcher = honest(engine, "watcher", Subscribe(1, [("check/#", SubscriptionOptions(qos=0))]))
    publisher = honest(engine, "pub")

    fuzz = engine.connect("192.0.2.9:9", "default")
    stream = session[0] + b"".join(session[1])
    # deliver the stream in pieces of the drawn sizes, then the rest
    pos = 0
    for size in splits:
        fuzz.data_received(stream[pos : pos + size])
        pos += size
    fuzz.data_received(stream[pos:])
    drain(fuzz)
    for _ in range(3):
        clock.now += 5
        engine.tick()
    fuzz.connection_lost()
    clock.now += 5
    engine.tick()

    # The fuzzed client may have taken over "watcher" or "pub" (it may pick their ids: that
    # is MQTT's session takeover, not harm). Reconnect them if so, then check routing.
    if watcher.closed:
        watcher = honest(engine, "watcher", Subscribe(1, [("check/#", SubscriptionOptions(qos=0))]))
    if publisher.closed:
        publisher = honest(engine, "pub")
    drain(watcher)
    publisher.data_received(encode(Publish(topic="check/alive", payload=b"ok"), 4))
    assert b"check/alive" in drain(watcher)
    assert not watcher.closed and not publisher.closed
    assert len(engine.connections) == 2
    assert len(engine.sessions) <= 4  # watcher, pub, and at most the fuzzed client's own
    # bounded state: nothing the fuzzed client sent outgrows what it could send
    assert len(fuzz.decoder._buf) <= MAX_PACKET
    assert engine.retained.bytes <= len(stream)
    assert not fuzz.out and not fuzz.backlog
