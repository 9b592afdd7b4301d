"""SerialBridge over pseudo-terminals: connections, hot-plug, several nodes, garbage."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from serial_fakes import CONNACK, CONNECT, PINGREQ, RecordingBroker, ScriptedNode
from support.ptycable import PtyCable
from support.wait import until

from gateway.serial import SerialBridge, find_ports
from gateway.serial.framing import Frame, FrameType


@contextlib.asynccontextmanager
async def running(broker: RecordingBroker, **options: Any) -> AsyncIterator[SerialBridge]:
    """A started SerialBridge that rescans quickly; stopped on the way out."""
    options.setdefault("rescan_interval", 0.1)
    bridge = SerialBridge(broker, **options)
    await bridge.start()
    try:
        yield bridge
    finally:
        await bridge.stop()


async def connect_node(cable: PtyCable, node: ScriptedNode) -> None:
    """OPEN + CONNECT from the node; waits for ACCEPT and the CONNACK."""
    await cable.write(node.open_frame() + node.data_frame(CONNECT))

    def got_connack() -> bool:
        node.receive(cable.read())
        return Frame(FrameType.DATA, CONNACK) in node.frames

    await until(got_connack, what="CONNACK over the pty")
    assert FrameType.ACCEPT in node.types()


def run(coro) -> None:
    asyncio.run(asyncio.wait_for(coro, 120))


def test_configured_port_carries_a_connection(cable: PtyCable) -> None:
    broker = RecordingBroker()
    node = ScriptedNode()

    async def scenario() -> SerialBridge:
        async with running(broker, ports=[str(cable.path)], autodetect=False) as bridge:
            assert bridge.open_ports == [str(cable.path)]
            await connect_node(cable, node)
            proto = broker.protocols[0]
            assert bytes(proto.data) == CONNECT
            assert broker.listeners == ["serial"]
            assert proto.transport.get_extra_info("peername") == f"serial:{cable.path}"
            await cable.write(node.data_frame(PINGREQ))
            await until(lambda: bytes(proto.data).endswith(PINGREQ), what="PINGREQ")
        return bridge

    bridge = asyncio.run(asyncio.wait_for(scenario(), 120))
    # stop() tells the node and ends the connection.
    node.receive(cable.read())
    assert node.frames[-1] == Frame(FrameType.CLOSE, b"")
    assert broker.protocols[0].lost == [None]
    counters = bridge.counters()[str(cable.path)]
    assert counters.connections == 1
    assert counters.frames_in == 3
    assert counters.port_opens == 1


def test_hot_plug_loses_and_regains_the_node(cable: PtyCable) -> None:
    broker = RecordingBroker()

    async def scenario() -> None:
        async with running(broker, ports=[str(cable.path)], autodetect=False) as bridge:
            await connect_node(cable, ScriptedNode())
            first = broker.protocols[0]
            cable.unplug()
            await until(lambda: first.lost, what="connection lost on unplug")
            assert isinstance(first.lost[0], Exception)  # not a clean close: will published
            assert bridge.open_ports == []
            await asyncio.sleep(0.3)  # rescans while the device is absent: nothing breaks
            cable.plug()
            await until(lambda: bridge.open_ports == [str(cable.path)], what="reopen")
            await connect_node(cable, ScriptedNode())
            assert len(broker.protocols) == 2
            counters = bridge.counters()[str(cable.path)]
            assert counters.port_losses == 1
            assert counters.port_opens == 2

    run(scenario())


def test_autodetect_several_nodes_at_once(tmp_path: Path) -> None:
    cables = [PtyCable(tmp_path / f"ttyUSB{i}") for i in range(3)]
    broker = RecordingBroker()

    async def scenario() -> None:
        async with running(broker, patterns=[str(tmp_path / "ttyUSB*")]) as bridge:
            assert sorted(bridge.open_ports) == sorted(str(c.path) for c in cables)
            nodes = [ScriptedNode() for _ in cables]
            await asyncio.gather(*(connect_node(c, n) for c, n in zip(cables, nodes, strict=True)))
            assert len(broker.protocols) == 3
            # Each reply went to its own cable: every node saw exactly one CONNACK.
            for node in nodes:
                assert node.frames.count(Frame(FrameType.DATA, CONNACK)) == 1
            # A fourth node plugged in later is found by the rescan.
            late = PtyCable(tmp_path / "ttyUSB3")
            cables.append(late)
            await until(lambda: str(late.path) in bridge.open_ports, what="late node")
            await connect_node(late, ScriptedNode())

    try:
        run(scenario())
    finally:
        for c in cables:
            c.close()


def test_garbage_wrong_baud_and_flood_never_crash(cable: PtyCable) -> None:
    broker = RecordingBroker()
    rng = random.Random(8)

    async def scenario() -> None:
        async with running(broker, ports=[str(cable.path)], autodetect=False) as bridge:
            link = bridge.link(str(cable.path))
            # Line noise and a wrong baud rate look alike: random bytes, some zeros.
            for _ in range(20):
                await cable.write(rng.randbytes(4096))
            # A flood without a single delimiter: dropped, not buffered.
            await cable.write(b"\x55" * 100_000)
            await cable.write(b"\x00")
            await until(lambda: link.counters.bytes_in >= 20 * 4096 + 100_001, what="input")
            assert link.counters.bad_frames > 0
            assert link.counters.too_long >= 1
            # A node that floods valid frames outside a connection gets few CLOSEs back.
            node = ScriptedNode()
            await cable.write(node.data_frame(PINGREQ) * 2000)
            await until(lambda: link.counters.stray_data == 2000, what="stray frames")
            node.receive(cable.read())
            assert 1 <= node.types().count(FrameType.CLOSE) < 100
            # Through all that, the port stayed open and a real node still gets in.
            await connect_node(cable, ScriptedNode())
            assert bridge.open_ports == [str(cable.path)]

    run(scenario())


def test_missing_and_unopenable_ports_are_retried(tmp_path: Path) -> None:
    broker = RecordingBroker()
    path = tmp_path / "later"
    not_a_tty = tmp_path / "plainfile"
    not_a_tty.write_text("not a serial port")
    cables: list[PtyCable] = []

    async def scenario() -> None:
        ports = [str(path), str(not_a_tty)]
        async with running(broker, ports=ports, autodetect=False) as bridge:
            assert bridge.open_ports == []
            cables.append(PtyCable(path))
            await until(lambda: bridge.open_ports == [str(path)], what="late port")
            await connect_node(cables[0], ScriptedNode())

    try:
        run(scenario())
    finally:
        for c in cables:
            c.close()


def test_find_ports_dedupes_names_and_honours_exclude(tmp_path: Path) -> None:
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    cables = [PtyCable(tmp_path / f"ttyUSB{i}") for i in range(2)]
    try:
        os.symlink(os.path.realpath(cables[0].path), by_id / "usb-Silicon_Labs_CP2102-if00")
        patterns = [str(by_id / "*"), str(tmp_path / "ttyUSB*")]
        found = find_ports(patterns)
        # ttyUSB0 is the same device as the by-id name: listed once, by the stable name.
        assert found == [str(by_id / "usb-Silicon_Labs_CP2102-if00"), str(cables[1].path)]
        assert find_ports(patterns, exclude=[str(tmp_path / "ttyUSB1")]) == found[:1]
        # Excluding the device excludes all its names.
        assert find_ports(patterns, exclude=[os.path.realpath(cables[0].path)]) == found[1:]
    finally:
        for c in cables:
            c.close()
