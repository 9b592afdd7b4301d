"""NodeLink and LinkTransport: the link protocol of one port, driven without a device."""

from __future__ import annotations

import asyncio

import pytest
from serial_fakes import CONNACK, CONNECT, PINGREQ, FakePort, RecordingBroker, ScriptedNode
from support.clock import TimerClock

from gateway.serial.framing import LINK_VERSION, Frame, FrameType, encode_frame
from gateway.serial.link import NodeLink


@pytest.fixture
def rig() -> tuple[NodeLink, FakePort, RecordingBroker, ScriptedNode, TimerClock]:
    port = FakePort()
    broker = RecordingBroker()
    clock = TimerClock()
    link = NodeLink(
        "/dev/ttyUSB9", port, lambda: broker.protocol_factory(listener="serial"), clock=clock,
        call_later=clock.call_later,
    )
    return link, port, broker, ScriptedNode(max_packet=256), clock


def from_gateway(port: FakePort, node: ScriptedNode) -> list[Frame]:
    new = node.receive(bytes(port.written))
    port.written.clear()
    return new


def test_open_accept_and_data_both_ways(rig) -> None:
    link, port, broker, node, _ = rig
    link.data_received(node.open_frame())
    assert from_gateway(port, node) == [Frame(FrameType.ACCEPT, bytes((LINK_VERSION, node.nonce)))]
    assert len(broker.protocols) == 1
    proto = broker.protocols[0]
    assert broker.listeners == ["serial"]
    assert proto.transport.get_extra_info("peername") == "serial:/dev/ttyUSB9"
    # CONNECT split over two frames arrives as one stream; the CONNACK goes back framed.
    link.data_received(node.data_frame(CONNECT[:5]) + node.data_frame(CONNECT[5:]))
    assert bytes(proto.data) == CONNECT
    assert from_gateway(port, node) == [Frame(FrameType.DATA, CONNACK)]
    assert link.counters.connections == 1


def test_broker_writes_are_framed_per_packet(rig) -> None:
    link, port, broker, node, _ = rig
    link.data_received(node.open_frame())
    from_gateway(port, node)
    transport = broker.protocols[0].transport
    assert transport.get_extra_info("mqtt_packet_per_write") is True
    publish = b"\x30\x07\x00\x01t" + b"abcd"
    transport.writelines([CONNACK, publish])
    transport.write(b"\xd0\x00")
    assert from_gateway(port, node) == [
        Frame(FrameType.DATA, CONNACK),
        Frame(FrameType.DATA, publish),
        Frame(FrameType.DATA, b"\xd0\x00"),
    ]


def test_the_broker_writes_one_packet_per_frame() -> None:
    """The real broker's output of one read (CONNACK, SUBACK, two retained PUBLISH) reaches
    the node as four DATA frames: the broker keeps its output as whole packets."""
    from broker import Broker, BrokerConfig
    from broker.protocol import encode
    from broker.protocol.packets import Subscribe, SubscriptionOptions

    async def scenario() -> list[Frame]:
        real = Broker(BrokerConfig(sys_interval=0))
        real.publish("home/a", "1", retain=True)
        real.publish("home/b", "2", retain=True)
        port, node = FakePort(), ScriptedNode(max_packet=256)
        link = NodeLink("/dev/ttyUSB9", port, lambda: real.protocol_factory(listener="serial"))
        link.data_received(node.open_frame())
        from_gateway(port, node)
        subscribe = encode(Subscribe(1, [("home/#", SubscriptionOptions(qos=0))]), 4)
        link.data_received(node.data_frame(CONNECT + subscribe))
        return from_gateway(port, node)

    frames = asyncio.run(scenario())
    assert [f.type for f in frames] == [FrameType.DATA] * 4
    assert [f.body[0] >> 4 for f in frames] == [2, 9, 3, 3]


def test_packets_over_the_node_limit_are_dropped(rig) -> None:
    link, port, broker, node, _ = rig
    link.data_received(node.open_frame())  # the node receives at most 256 bytes
    from_gateway(port, node)
    transport = broker.protocols[0].transport
    big = b"\x30\x81\x02" + b"\x00\x01t" + b"x" * 254  # 257 bytes of body
    transport.writelines([big, PINGREQ])
    assert from_gateway(port, node) == [Frame(FrameType.DATA, PINGREQ)]
    assert link.counters.dropped_oversize == 1


def test_broker_close_sends_close_and_reports_loss_later(rig) -> None:
    link, port, broker, node, _ = rig

    async def scenario() -> None:
        link.data_received(node.open_frame())
        from_gateway(port, node)
        proto = broker.protocols[0]
        proto.transport.close()
        assert proto.transport.is_closing()
        assert from_gateway(port, node) == [Frame(FrameType.CLOSE, b"")]
        assert proto.lost == []  # not from inside the broker's own call
        await asyncio.sleep(0)
        assert proto.lost == [None]
        proto.transport.write(PINGREQ)  # after close: discarded
        proto.transport.close()
        assert from_gateway(port, node) == []

    asyncio.run(scenario())
    assert link.session is None
    assert link.counters.closed_by_broker == 1


def test_close_from_node_ends_connection(rig) -> None:
    link, port, broker, node, _ = rig
    link.data_received(node.open_frame() + node.close_frame())
    assert broker.protocols[0].lost == [None]
    assert link.session is None
    assert link.counters.closed_by_node == 1


def test_bad_frame_ends_connection_and_tells_node(rig) -> None:
    link, port, broker, node, _ = rig
    link.data_received(node.open_frame())
    from_gateway(port, node)
    good = node.data_frame(PINGREQ)
    link.data_received(good[: len(good) // 2])  # a half frame ...
    link.data_received(node.data_frame(PINGREQ))  # ... cut off by the next frame
    proto = broker.protocols[0]
    assert len(proto.lost) == 1 and isinstance(proto.lost[0], ConnectionError)
    frames = from_gateway(port, node)
    assert frames[0] == Frame(FrameType.CLOSE, b"")
    assert link.counters.closed_on_error == 1
    assert link.counters.bad_frames == 1
    # The good frame after the half one is stray DATA: answered with CLOSE too.
    assert link.counters.stray_data == 1


def test_open_while_open_is_a_node_reset(rig) -> None:
    link, port, broker, node, _ = rig
    link.data_received(node.open_frame() + node.data_frame(CONNECT))
    link.data_received(node.open_frame() + node.data_frame(CONNECT))
    first, second = broker.protocols
    assert len(first.lost) == 1 and isinstance(first.lost[0], ConnectionResetError)
    assert bytes(second.data) == CONNECT and second.lost == []
    assert link.session is not None and link.session.protocol is second
    assert link.counters.node_resets == 1
    assert link.counters.connections == 2


def test_boot_noise_ends_connection_then_node_reconnects(rig) -> None:
    link, port, broker, node, _ = rig
    link.data_received(node.open_frame() + node.data_frame(CONNECT))
    boot_noise = bytes(range(1, 200))  # the ROM's 74880-baud messages, seen at 115200
    link.data_received(boot_noise + node.open_frame() + node.data_frame(CONNECT))
    first, second = broker.protocols
    assert len(first.lost) == 1 and isinstance(first.lost[0], ConnectionError)
    assert bytes(second.data) == CONNECT and second.lost == []
    assert link.counters.closed_on_error == 1
    assert link.counters.connections == 2


def test_stray_data_gets_rate_limited_close(rig) -> None:
    link, port, broker, node, clock = rig
    for _ in range(50):
        link.data_received(node.data_frame(PINGREQ))
    assert from_gateway(port, node) == [Frame(FrameType.CLOSE, b"")]
    clock.now += 1.0
    link.data_received(node.data_frame(PINGREQ))
    assert from_gateway(port, node) == [Frame(FrameType.CLOSE, b"")]
    assert link.counters.stray_data == 51
    assert broker.protocols == []


def test_unsupported_version_is_refused(rig) -> None:
    link, port, broker, node, _ = rig
    link.data_received(encode_frame(FrameType.OPEN, b"\x09\x01"))
    assert from_gateway(port, node) == [Frame(FrameType.CLOSE, b"")]
    assert broker.protocols == []
    assert link.counters.unknown_frames == 1


def test_garbage_flood_is_counted_never_raised(rig, caplog) -> None:
    link, port, broker, node, _ = rig
    import random

    rng = random.Random(3)
    for _ in range(300):
        link.data_received(rng.randbytes(512))
    assert link.counters.bad_frames > 0
    assert broker.protocols == [] or all(p.lost for p in broker.protocols)
    # Logged once (rate-limited), with the wrong-baud hint since no frame was ever good.
    warnings = [r for r in caplog.records if "bad frame" in r.getMessage()]
    assert len(warnings) == 1
    assert "baud" in warnings[0].getMessage()
    link.data_received(node.open_frame())
    assert link.session is not None


def test_port_lost_publishes_will_path(rig) -> None:
    link, port, broker, node, _ = rig
    link.data_received(node.open_frame())
    link.port_lost(OSError(5, "Input/output error"))
    proto = broker.protocols[0]
    assert len(proto.lost) == 1 and isinstance(proto.lost[0], OSError)
    assert link.session is None


def test_write_pressure_pauses_and_resumes_the_broker(rig) -> None:
    link, port, broker, node, _ = rig
    link.data_received(node.open_frame())
    proto = broker.protocols[0]
    proto.transport.set_write_buffer_limits(high=1000)
    port.buffered = 5000
    proto.transport.write(PINGREQ)
    assert proto.paused == 1
    port.buffered = 100
    link.write_drained()
    assert proto.resumed == 1
    proto.transport.pause_reading()
    assert not port.reading
    proto.transport.resume_reading()
    assert port.reading


def test_broker_exception_ends_only_that_connection(rig) -> None:
    link, port, broker, node, _ = rig
    link.data_received(node.open_frame())
    proto = broker.protocols[0]

    def explode(data: bytes) -> None:
        raise RuntimeError("broker bug")

    proto.data_received = explode  # type: ignore[method-assign]
    link.data_received(node.data_frame(CONNECT))
    assert link.session is None
    assert isinstance(proto.lost[0], RuntimeError)
    link.data_received(node.open_frame())
    assert link.session is not None


def test_broker_that_cannot_take_a_connection_gets_node_closed(rig) -> None:
    link, port, broker, node, _ = rig

    def refuse(listener: str = "serial"):
        raise RuntimeError("too many connections")

    broker.protocol_factory = refuse  # type: ignore[method-assign]
    link.data_received(node.open_frame())
    assert from_gateway(port, node) == [Frame(FrameType.CLOSE, b"")]
    assert link.session is None


def test_noise_on_an_idle_line_ends_the_connection_after_a_gap(rig) -> None:
    link, port, broker, node, clock = rig
    link.data_received(node.open_frame())
    from_gateway(port, node)
    link.data_received(b"\x00\x37\x91\x22")  # noise, and then the line stays quiet
    assert link.session is not None  # not yet: more of a frame could still come
    clock.advance(0.1)
    link.data_received(b"\x44")  # still arriving: the gap starts again
    clock.advance(0.2)
    assert link.session is not None
    clock.advance(0.1)
    assert port.polls >= 1  # waiting input is read before the line is called quiet
    assert link.session is None
    assert isinstance(broker.protocols[0].lost[0], ConnectionError)
    assert from_gateway(port, node) == [Frame(FrameType.CLOSE, b"")]
    assert link.counters.stalled == 1
    # The node's next frames decode normally.
    link.data_received(node.open_frame())
    assert link.session is not None


def test_whole_frames_arm_no_gap_timer(rig) -> None:
    link, port, broker, node, clock = rig
    link.data_received(node.open_frame() + node.data_frame(CONNECT))
    assert clock.timers == []


def test_closing_the_link_cancels_the_gap_timer(rig) -> None:
    link, port, broker, node, clock = rig
    link.data_received(b"\x00\x37")
    (timer,) = clock.timers
    link.close()
    assert timer.cancelled
