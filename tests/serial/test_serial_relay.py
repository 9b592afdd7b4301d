"""TcpRelay and ``python -m gateway.serial``: serial nodes relayed to a broker over TCP,
here Debian's Mosquitto on a free port."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from serial_fakes import ScriptedNode, mqtt_connect, mqtt_publish
from support.mqtt_watch import Watcher
from support.ports import free_port
from support.processes import Mosquitto
from support.ptycable import PtyCable
from support.wait import until

from gateway.serial import SerialBridge, TcpRelay
from gateway.serial.framing import Frame, FrameType

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[int]:
    server = Mosquitto(tmp_path).start()
    try:
        yield server.port
    finally:
        server.stop()


def watching(port: int) -> Watcher:
    """A paho subscriber to home/# on ``port``, subscribed."""
    watcher = Watcher(port)
    if not watcher.subscribed.wait(30):
        raise RuntimeError("paho did not subscribe")
    return watcher


async def node_publishes(cable: PtyCable, node: ScriptedNode, watcher: Watcher) -> None:
    await cable.write(node.open_frame()
                      + node.data_frame(mqtt_connect("relay_node", "home/hall/relay_node/status", "offline"))
                      + node.data_frame(mqtt_publish("home/hall/temperature", b"19.5", retain=True)))
    await until(lambda: b"19.5" in watcher.payloads("home/hall/temperature"), what="relayed publish")

    def got_connack() -> bool:
        node.receive(cable.read())
        return any(f.type == FrameType.DATA and f.body[:1] == b"\x20" for f in node.frames)

    await until(got_connack, what="CONNACK relayed back")


def test_relay_carries_node_to_mosquitto_and_will_on_noise(mosquitto: int, tmp_path: Path) -> None:
    cable = PtyCable(tmp_path / "ttyUSB0")
    watcher = watching(mosquitto)

    async def scenario() -> None:
        bridge = SerialBridge(TcpRelay("127.0.0.1", mosquitto), ports=[str(cable.path)],
                              autodetect=False)
        await bridge.start()
        try:
            node = ScriptedNode()
            await node_publishes(cable, node, watcher)
            await cable.write(b"\x00\x37\x91\x22\x00")  # line noise ends the connection
            await until(lambda: b"offline" in watcher.payloads("home/hall/relay_node/status"),
                             what="will after noise")

            def told_close() -> bool:
                node.receive(cable.read())
                return node.frames[-1] == Frame(FrameType.CLOSE, b"")

            await until(told_close, what="CLOSE to the node")
        finally:
            await bridge.stop()

    try:
        asyncio.run(asyncio.wait_for(scenario(), 120))
    finally:
        watcher.close()
        cable.close()


def test_relay_closes_node_when_broker_unreachable(tmp_path: Path) -> None:
    cable = PtyCable(tmp_path / "ttyUSB0")

    async def scenario() -> None:
        bridge = SerialBridge(TcpRelay("127.0.0.1", free_port()), ports=[str(cable.path)],
                              autodetect=False)
        await bridge.start()
        try:
            node = ScriptedNode()
            await cable.write(node.open_frame())

            def closed() -> bool:
                node.receive(cable.read())
                return FrameType.CLOSE in node.types()

            await until(closed, what="CLOSE when the broker is down")
            assert node.types()[0] == FrameType.ACCEPT
            assert bridge.link(str(cable.path)).counters.closed_by_broker == 1
        finally:
            await bridge.stop()

    try:
        asyncio.run(asyncio.wait_for(scenario(), 120))
    finally:
        cable.close()


def test_command_line_bridge(mosquitto: int, tmp_path: Path) -> None:
    cable = PtyCable(tmp_path / "ttyUSB0")
    watcher = watching(mosquitto)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.serial", "--broker", f"127.0.0.1:{mosquitto}",
         "--port", str(cable.path), "--no-autodetect", "--stats-interval", "0.5"],
        stderr=subprocess.PIPE, text=True, env=env,
    )
    log_lines: list[str] = []
    reader = threading.Thread(target=lambda: log_lines.extend(proc.stderr), daemon=True)
    reader.start()

    async def scenario() -> None:
        # Bytes sent before the bridge opens the port would be flushed by its open.
        await until(lambda: any("listening for a node on" in x for x in log_lines),
                         what="bridge up")
        await node_publishes(cable, ScriptedNode(), watcher)
        await until(lambda: any("'connections': 1" in x for x in log_lines),
                         what="statistics line")

    try:
        asyncio.run(asyncio.wait_for(scenario(), 120))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, "".join(log_lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
        watcher.close()
        cable.close()
