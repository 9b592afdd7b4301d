"""End to end: the node's link code (host build) on a pty, the bridge, the real broker, paho.

firmware/host/node_sim runs the portable gwlink library with FramedClient on the Arduino
Client interface and a PubSubClient-like MQTT session. It connects through the bridge to
broker.Broker, publishes home/<room>/<sensor>, and a paho subscriber on the broker's TCP
port must see it. Then noise, a half frame and a node reset are injected: each time the
broker publishes the node's will, the node reconnects by itself and publishes again; and
so it does when the bridge restarts.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from support.ptycable import PtyCable
from support.wait import until

from broker import Broker, BrokerConfig
from gateway.serial import SerialBridge

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
ROOM = "kitchen"
NODE_ID = "kitchen_node"
STATUS = f"home/{ROOM}/{NODE_ID}/status"


@pytest.fixture(scope="module")
def node_sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = tmp_path_factory.mktemp("node-sim")
    proc = subprocess.run(
        ["make", "-s", "-C", str(FIRMWARE), f"BUILD={build}", "node_sim"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return build / "node_sim"


class Subscriber:
    """A paho client on the broker's TCP port, collecting everything under home/."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="e2e-sub")
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe("home/#")
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg) -> None:
        with self._lock:
            self.messages.append((msg.topic, msg.payload))

    def payloads(self, topic: str) -> list[bytes]:
        with self._lock:
            return [p for t, p in self.messages if t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class NodeProcess:
    """node_sim as a child process: commands on stdin, events read from stdout."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.events: list[str] = []

    async def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def expect(self, event: str, timeout: float = 30.0) -> None:
        """Reads events until one starts with ``event``."""
        assert self.proc.stdout is not None
        while True:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
            if not line:
                raise AssertionError(f"node_sim exited; events so far: {self.events}")
            text = line.decode().strip()
            self.events.append(text)
            if text.startswith(event):
                return


async def publish_and_see(node: NodeProcess, sub: Subscriber, sensor: str, value: str,
                          split: bool = False) -> None:
    topic = f"home/{ROOM}/{sensor}"
    await node.command(f"{'publish_split' if split else 'publish'} {sensor} {value}")
    await node.expect(f"published {topic}")
    await until(lambda: value.encode() in sub.payloads(topic), what=f"{topic} = {value}")


async def reconnects_after(node: NodeProcess, sub: Subscriber, fault: str) -> None:
    """Injects ``fault``; the will must be published and the node must come back online."""
    offline_before = sub.payloads(STATUS).count(b"offline")
    online_before = sub.payloads(STATUS).count(b"online")
    await node.command(fault)
    await node.expect("connected")
    await until(lambda: sub.payloads(STATUS).count(b"offline") > offline_before,
                     what=f"will after {fault}")
    await until(lambda: sub.payloads(STATUS).count(b"online") > online_before,
                     what=f"online after {fault}")


def test_node_over_serial_reaches_paho_and_recovers(node_sim: Path, tmp_path: Path) -> None:
    cable = PtyCable(tmp_path / "ttyNODE")

    async def scenario() -> None:
        broker = Broker(BrokerConfig(host="127.0.0.1", port=0, sys_interval=0))
        await broker.start()
        bridge = SerialBridge(broker, ports=[str(cable.path)], autodetect=False,
                              rescan_interval=0.2)
        await bridge.start()
        sub = Subscriber(broker.port)
        proc = await asyncio.create_subprocess_exec(
            str(node_sim), "--fd", str(cable.master), "--id", NODE_ID, "--room", ROOM,
            "--keepalive", "5",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            pass_fds=(cable.master,),
        )
        node = NodeProcess(proc)
        try:
            await until(sub.subscribed.is_set, what="paho subscription")
            await node.expect("connected")
            await publish_and_see(node, sub, "temperature", "21.4")
            assert sub.payloads(STATUS)[-1] == b"online"

            await reconnects_after(node, sub, "noise 64")
            await publish_and_see(node, sub, "temperature", "21.5")

            await reconnects_after(node, sub, "halfframe")
            await publish_and_see(node, sub, "humidity", "48.0", split=True)

            await reconnects_after(node, sub, "reset")
            await publish_and_see(node, sub, "temperature", "21.6")

            await node.command("counters")
            await node.expect("counters")
            counters = bridge.counters()[str(cable.path)]
            assert counters.connections >= 4
            assert counters.closed_on_error >= 3
            assert counters.bad_frames >= 3
            # The clean way out: DISCONNECT, so no will this time.
            offline = sub.payloads(STATUS).count(b"offline")
            await node.command("disconnect")
            await node.expect("disconnected")
            await node.expect("connected")
            await asyncio.sleep(0.5)
            assert sub.payloads(STATUS).count(b"offline") == offline

            # The gateway's bridge restarts: the node is told, retries, and gets back in.
            await bridge.stop()
            await node.expect("lost")
            bridge = SerialBridge(broker, ports=[str(cable.path)], autodetect=False,
                                  rescan_interval=0.2)
            await bridge.start()
            await node.expect("connected")
            await publish_and_see(node, sub, "temperature", "21.7")
        finally:
            if proc.returncode is None:
                proc.stdin.close()
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
            sub.close()
            await bridge.stop()
            await broker.stop()

    try:
        asyncio.run(asyncio.wait_for(scenario(), 240))
    finally:
        cable.close()


def test_gateway_run_bridges_the_ports_of_its_serial_table(node_sim: Path, tmp_path: Path) -> None:
    """`gateway run` with `[serial] ports = [...]`: the node's readings reach a paho client."""
    from gateway.config import parse_config
    from gateway.serve import RunOptions, run

    cable = PtyCable(tmp_path / "ttyNODE")
    config = parse_config(f'[serial]\nports = ["{cable.path}"]\nautodetect = false\n',
                          str(tmp_path / "gateway.toml"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def scenario() -> None:
        stop = asyncio.Event()
        ready = asyncio.Event()
        options = RunOptions(host="127.0.0.1", port=port, data_dir=str(tmp_path / "state"),
                             hardware="simulated")
        gateway = asyncio.create_task(run(config, options, stop, on_ready=ready.set))
        await asyncio.wait_for(ready.wait(), 60)
        sub = Subscriber(port)
        proc = await asyncio.create_subprocess_exec(
            str(node_sim), "--fd", str(cable.master), "--id", NODE_ID, "--room", ROOM,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            pass_fds=(cable.master,),
        )
        node = NodeProcess(proc)
        try:
            await until(sub.subscribed.is_set, what="paho subscription")
            await node.expect("connected")
            await publish_and_see(node, sub, "temperature", "19.5")
        finally:
            proc.kill()
            await proc.wait()
            sub.close()
            stop.set()
            await asyncio.wait_for(gateway, 30)

    try:
        asyncio.run(asyncio.wait_for(scenario(), 180))
    finally:
        cable.close()
