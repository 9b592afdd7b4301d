"""Last will: published on abnormal ends only; retain and QoS; 5.0 will delay, DISCONNECT
0x04, will properties."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest
from support.pahoclient import PahoClient
from support.rawmqtt import RawClient

from broker.protocol import encode
from broker.protocol.packets import Connect, Disconnect, Publish, Will

Raw = Callable[..., RawClient]
Paho = Callable[..., PahoClient]


def watch(connected: Raw, version: int, topic: str, qos: int = 1) -> RawClient:
    """A client subscribed to the will topic."""
    watcher = connected(version)
    watcher.subscribe((topic, qos))
    return watcher


def marker_first(watcher: RawClient, connected: Raw, topic: str) -> None:
    """Nothing (no will, no retained message) reached ``watcher`` before a marker published
    on ``topic`` now: whatever the broker had to send is ahead of it."""
    connected(watcher.version).publish(topic, b"marker")
    assert watcher.receive().payload == b"marker"


def will_client(
    raw: Raw,
    version: int,
    topic: str,
    payload: bytes = b"offline",
    client_id: str | None = None,
    delay: int | None = None,
    expiry: int | None = None,
    **will_args: object,
) -> RawClient:
    """A connected client with a will; ``delay`` and ``expiry`` are the 5.0 intervals."""
    props = {"will_delay_interval": delay} if delay is not None else {}
    session = {"session_expiry_interval": expiry} if expiry is not None else None
    c = raw(version)
    c.connect(
        client_id,
        will=Will(topic, payload, properties=props, **will_args),  # type: ignore[arg-type]
        properties=session,
    )
    return c


@pytest.mark.parametrize("version", [3, 4, 5])
def test_will_published_when_connection_drops(
    raw: Raw, connected: Raw, topic: str, version: int
) -> None:
    """MQTT-3.1.2-8: the network connection closed without DISCONNECT -> will published."""
    watcher = watch(connected, version, topic, 1)
    c = will_client(raw, version, topic, qos=1)
    c.close()
    p = watcher.receive()
    assert (p.topic, p.payload, p.qos) == (topic, b"offline", 1)


@pytest.mark.parametrize("version", [3, 4, 5])
def test_no_will_after_normal_disconnect(
    raw: Raw, connected: Raw, topic: str, version: int
) -> None:
    """MQTT-3.1.2-10 / MQTT-3.14.4-3: DISCONNECT (0x00) discards the will."""
    watcher = watch(connected, version, topic, 1)
    c = will_client(raw, version, topic, qos=1)
    c.disconnect()
    marker_first(watcher, connected, topic)


def test_disconnect_with_will_message_reason_publishes_it(
    raw: Raw, connected: Raw, topic: str
) -> None:
    """MQTT 5.0 DISCONNECT reason 0x04: disconnect, but publish the will."""
    watcher = watch(connected, 5, topic, 1)
    c = will_client(raw, 5, topic, qos=1)
    c.disconnect(0x04)
    assert watcher.receive().payload == b"offline"


def test_disconnect_with_error_reason_publishes_will(raw: Raw, connected: Raw, topic: str) -> None:
    """MQTT-3.1.2-8 / 3.14.4-3: only reason 0x00 discards the will; a client ending with an
    error reason (0x80) still has its will published."""
    watcher = watch(connected, 5, topic, 1)
    c = will_client(raw, 5, topic, qos=1)
    c.disconnect(0x80)
    assert watcher.receive().payload == b"offline"


def test_retained_will(raw: Raw, connected: Raw, topic: str) -> None:
    c = will_client(raw, 4, topic, qos=1, retain=True)
    watcher = watch(connected, 4, topic, 1)
    c.close()
    assert watcher.receive().payload == b"offline"
    later = connected(4)
    later.subscribe((topic, 1))
    p = later.receive()
    assert (p.payload, p.retain) == (b"offline", True)


def test_will_on_protocol_violation(raw: Raw, connected: Raw, topic: str) -> None:
    """The server closing the connection for a protocol error publishes the will."""
    watcher = watch(connected, 5, topic, 0)
    c = will_client(raw, 5, topic)
    c.send(Publish("bad/+", b"x"))
    c.closed_with(0x90)
    assert watcher.receive().payload == b"offline"


@pytest.mark.parametrize("version", [4, 5])
def test_will_on_takeover(raw: Raw, connected: Raw, topic: str, version: int) -> None:
    """A session taken over by the same client id ends the old connection abnormally."""
    watcher = watch(connected, version, topic, 0)
    c = raw(version)
    c.connect("will-twin", will=Will(topic, b"replaced"))
    connected(version, client_id="will-twin")
    assert watcher.receive().payload == b"replaced"


def test_will_delay_holds_the_will(raw: Raw, connected: Raw, topic: str) -> None:
    """MQTT-3.1.3-9: the will is published when the delay has passed (not at once). End to
    end over TCP; the timers to the tenth of a second: tests/engine/test_wills.py."""
    watcher = watch(connected, 5, topic, 0)
    will_client(raw, 5, topic, b"late", "delayed-will", delay=2, expiry=60).close()
    start = time.monotonic()
    watcher.silent(1.0)
    assert watcher.receive(timeout=10).payload == b"late"
    assert time.monotonic() - start >= 1.5


def test_will_delay_with_session_expiry_zero_publishes_at_once(
    raw: Raw, connected: Raw, topic: str
) -> None:
    watcher = watch(connected, 5, topic, 0)
    will_client(raw, 5, topic, b"now", delay=3600).close()
    assert watcher.receive(timeout=5).payload == b"now"


def test_will_properties_are_forwarded(raw: Raw, connected: Raw, topic: str) -> None:
    """MQTT 5.0 3.1.3.2: will properties travel with the will message."""
    watcher = watch(connected, 5, topic, 1)
    props = {
        "payload_format_indicator": 1,
        "content_type": "text/plain",
        "response_topic": "reply/here",
        "correlation_data": b"\x01\x02",
        "user_property": [("room", "kitchen"), ("room", "hall")],
        "message_expiry_interval": 300,
    }
    c = raw(5)
    c.connect(will=Will(topic, b"offline", 1, False, props))
    c.close()
    p = watcher.receive()
    expected = dict(props)
    assert 0 < p.properties.pop("message_expiry_interval") <= 300
    del expected["message_expiry_interval"]
    assert p.properties == expected


def test_invalid_will_topic_is_refused(raw: Raw) -> None:
    """MQTT-3.1.3-11 / 5.0 CONNACK 0x90: a will topic with wildcards is refused."""
    c = raw(5)
    ack = c.connect(will=Will("a/#", b"x"), expect_success=False)
    assert ack.reason_code == 0x90
    assert c.closed() == []


def test_will_payload_not_utf8_with_format_indicator_is_refused(raw: Raw) -> None:
    """MQTT-3.1.3-? / 5.0 CONNACK 0x99: Payload Format Indicator 1 needs a UTF-8 payload."""
    c = raw(5)
    will = Will("a", b"\xff\xfe", properties={"payload_format_indicator": 1})
    assert c.connect(will=will, expect_success=False).reason_code == 0x99


def test_paho_will(paho: Paho, topic: str) -> None:
    watcher = paho(5)
    watcher.subscribe(topic, 1)
    c = paho(5, will=(topic, b"paho gone", 1, False))
    # End the TCP stream without DISCONNECT, as a crash or a pulled cable would.
    c.client.socket().shutdown(socket.SHUT_RDWR)
    msg = watcher.get()
    assert msg.payload == b"paho gone"
    assert c.disconnected.wait(10)


def test_connect_and_disconnect_in_one_write_publish_no_will(
    raw: Raw, connected: Raw, topic: str
) -> None:
    """A client that sends CONNECT with a will and DISCONNECT in one write: no will."""
    watcher = watch(connected, 4, topic, 0)
    c = raw(4)
    c.send_raw(encode(Connect(4, "one-shot", will=Will(topic, b"x")), 4) + encode(Disconnect(), 4))
    assert c.closed()[0].reason_code == 0
    marker_first(watcher, connected, topic)


@pytest.mark.parametrize("version", [4, 5])
def test_will_qos2_not_retained_unless_asked(
    raw: Raw, connected: Raw, topic: str, version: int
) -> None:
    """MQTT-3.1.2-14/15 (3.1.1) / 3.1.2-16/17 (5.0): Will QoS honoured; Will Retain 0 ->
    published as a non-retained message (nothing kept for later subscribers)."""
    watcher = watch(connected, version, topic, 2)
    will_client(raw, version, topic, b"q2", qos=2).close()
    p = watcher.receive()
    assert (p.payload, p.qos, p.retain) == (b"q2", 2, False)
    later = connected(version)
    later.subscribe((topic, 2))
    marker_first(later, connected, topic)
