"""The serial chunk server: a node on the cable reads a firmware image with UPDATE_READ
frames and gets UPDATE_DATA or UPDATE_ERROR (docs/contracts.md "Node firmware updates"),
over a pseudo-terminal through the SerialBridge, between the frames of its MQTT connection."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
from serial_fakes import CONNACK, CONNECT, PINGREQ, FakePort, RecordingBroker, ScriptedNode
from support.node_images import write_image
from support.ptycable import PtyCable
from support.wait import until

from gateway.node_firmware import FirmwareStore
from gateway.serial import SerialBridge
from gateway.serial.framing import Frame, FrameType, encode_frame
from gateway.serial.link import NodeLink


def read_frame(md5: bytes, offset: int, length: int) -> bytes:
    return encode_frame(FrameType.UPDATE_READ,
                        md5 + offset.to_bytes(4, "big") + length.to_bytes(2, "big"))


@pytest.fixture
def store(tmp_path: Path) -> FirmwareStore:
    write_image(tmp_path / "fw", "0.4.0", size=5000)
    return FirmwareStore(tmp_path / "fw", [])


async def answer(cable: PtyCable, node: ScriptedNode, frame: bytes) -> Frame:
    """Send ``frame`` from the node; the next UPDATE_DATA or UPDATE_ERROR frame."""
    seen = len(node.frames)
    await cable.write(frame)

    def answered() -> bool:
        node.receive(cable.read())
        return any(f.type in (FrameType.UPDATE_DATA, FrameType.UPDATE_ERROR)
                   for f in node.frames[seen:])

    await until(answered, what="an answer to UPDATE_READ")
    return next(f for f in node.frames[seen:]
                if f.type in (FrameType.UPDATE_DATA, FrameType.UPDATE_ERROR))


def test_a_node_reads_the_whole_image_between_its_mqtt_packets(
        cable: PtyCable, store: FirmwareStore) -> None:
    image = store.newest()
    assert image is not None
    md5 = bytes.fromhex(image.md5)
    broker = RecordingBroker()
    node = ScriptedNode()

    async def scenario() -> bytes:
        bridge = SerialBridge(broker, ports=[str(cable.path)], autodetect=False,
                              rescan_interval=0.1, firmware=store)
        await bridge.start()
        try:
            await cable.write(node.open_frame() + node.data_frame(CONNECT))
            await until(lambda: bool(node.receive(cable.read())) and
                        Frame(FrameType.DATA, CONNACK) in node.frames, what="CONNACK")
            got = bytearray()
            while True:
                reply = await answer(cable, node, read_frame(md5, len(got), 256))
                assert reply.type == FrameType.UPDATE_DATA
                assert int.from_bytes(reply.body[:4], "big") == len(got)
                chunk = reply.body[4:]
                assert len(chunk) <= 256
                if not chunk:
                    break
                got += chunk
                if len(got) % 1024 == 0:       # the MQTT connection goes on meanwhile
                    await cable.write(node.data_frame(PINGREQ))
            proto = broker.protocols[0]
            await until(lambda: bytes(proto.data).endswith(PINGREQ), what="PINGREQ")
            assert not proto.lost                 # the connection was never disturbed
            counters = bridge.counters()[str(cable.path)]
            assert counters.update_chunks == -(-5000 // 256) + 1
            return bytes(got)
        finally:
            await bridge.stop()

    data = asyncio.run(asyncio.wait_for(scenario(), 120))
    assert len(data) == image.size
    assert hashlib.md5(data).hexdigest() == image.md5
    # The last chunk is short (5000 = 19 * 256 + 136), only there.
    assert [len(f.body) - 4 for f in node.frames if f.type == FrameType.UPDATE_DATA][-2:] \
        == [136, 0]


@pytest.mark.parametrize(("body", "reason"), [
    (bytes(16) + (0).to_bytes(4, "big") + (256).to_bytes(2, "big"), "no image with this md5"),
    (None, "length 0 not in 1-256"),
    (None, "length 257 not in 1-256"),
    (None, "offset beyond the image (5000 bytes)"),
    (b"\x01\x02\x03", "bad UPDATE_READ: 3 bytes, expected 22"),
])
def test_bad_reads_get_an_error_with_the_reason(cable: PtyCable, store: FirmwareStore,
                                                body: bytes | None, reason: str) -> None:
    image = store.newest()
    assert image is not None
    md5 = bytes.fromhex(image.md5)
    if body is None:
        length = 0 if "length 0" in reason else 257 if "257" in reason else 16
        offset = 5001 if "offset" in reason else 0
        body = md5 + offset.to_bytes(4, "big") + length.to_bytes(2, "big")
    node = ScriptedNode()

    async def scenario() -> Frame:
        bridge = SerialBridge(RecordingBroker(), ports=[str(cable.path)], autodetect=False,
                              firmware=store)
        await bridge.start()
        try:
            return await answer(cable, node, encode_frame(FrameType.UPDATE_READ, body))
        finally:
            await bridge.stop()

    reply = asyncio.run(asyncio.wait_for(scenario(), 120))
    assert reply.type == FrameType.UPDATE_ERROR
    assert reply.body[4:].decode() == reason
    if len(body) == 22:
        assert reply.body[:4] == body[16:20]


def test_without_a_store_every_read_is_refused() -> None:
    port = FakePort()
    link = NodeLink("p", port, RecordingBroker().protocol_factory)
    link.data_received(read_frame(bytes(16), 0, 16))
    node = ScriptedNode()
    (reply,) = node.receive(bytes(port.written))
    assert reply == Frame(FrameType.UPDATE_ERROR, bytes(4) + b"no image with this md5")


def test_reads_wait_while_the_port_cannot_keep_up(store: FirmwareStore) -> None:
    image = store.newest()
    assert image is not None
    port = FakePort()
    link = NodeLink("p", port, RecordingBroker().protocol_factory, firmware=store)
    port.buffered = 1 << 20          # a node asking faster than the line carries
    for _ in range(50):
        link.data_received(read_frame(bytes.fromhex(image.md5), 0, 256))
    assert bytes(port.written) == b""
    assert link.counters.update_reads_dropped == 50
    port.buffered = 0
    link.data_received(read_frame(bytes.fromhex(image.md5), 0, 256))
    (reply,) = ScriptedNode().receive(bytes(port.written))
    assert reply.type == FrameType.UPDATE_DATA and len(reply.body) == 4 + 256


def test_the_command_line_bridge_serves_images_too(cable: PtyCable, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys
    import threading

    data = write_image(tmp_path / "images", "0.4.0", size=4096)
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.serial", "--broker", "127.0.0.1:9", "--port",
         str(cable.path), "--no-autodetect", "--firmware-dir", str(tmp_path / "images")],
        stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(repo)))
    log_lines: list[str] = []
    threading.Thread(target=lambda: log_lines.extend(proc.stderr), daemon=True).start()

    async def scenario() -> Frame:
        await until(lambda: any("listening for a node on" in x for x in log_lines),
                    what="bridge up")
        md5 = hashlib.md5(data).digest()
        return await answer(cable, ScriptedNode(), read_frame(md5, 4000, 256))

    try:
        reply = asyncio.run(asyncio.wait_for(scenario(), 120))
        assert reply == Frame(FrameType.UPDATE_DATA, (4000).to_bytes(4, "big") + data[4000:])
    finally:
        proc.terminate()
        proc.wait(timeout=60)
