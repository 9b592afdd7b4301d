"""The node sketch (host emulation, real PubSubClient 2.8, gwlink's framed link) on a USB
cable: a pseudo-terminal into `gateway run`'s serial bridge. Status, readings and inputs
arrive as over WiFi; line noise, a half frame, a reset and an unplug each cost one
connection (the broker publishes the will) and the node comes back by itself."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from emunode import (
    DHT_PIN,
    DOOR_PIN,
    LAMP_PIN,
    RELAY_PIN,
    EmulatedNode,
    NodeConfig,
    build_node,
    gateway_rig,
    wait_for,
)
from support.mqtt_watch import Watcher
from support.ptycable import PtyCable

from gateway.serial.framing import FrameType, encode_frame

STATUS = "home/kitchen/kitchen_node/status"


@pytest.fixture(scope="module")
def serial_node() -> Path:
    return build_node(NodeConfig(transport="SERIAL"))


def write_line(cable: PtyCable, data: bytes) -> None:
    """Bytes onto the wire from the node's side, between (or inside) the node's frames."""
    view = memoryview(data)
    while view:
        view = view[os.write(cable.master, view):]


def comes_back_after(watch: Watcher, fault) -> None:
    """``fault`` must cost the connection (the will) and the node must return online."""
    offline = watch.count(STATUS, b"offline")
    online = watch.count(STATUS, b"online")
    fault()
    wait_for(lambda: watch.count(STATUS, b"offline") > offline, what="the will")
    wait_for(lambda: watch.count(STATUS, b"online") > online, timeout=60, what="back online")


def test_node_on_a_serial_cable_recovers_from_noise_resets_and_unplugging(
        serial_node: Path, tmp_path: Path) -> None:
    cable = PtyCable(tmp_path / "ttyNODE")
    rng = random.Random(14)

    def power_on() -> EmulatedNode:
        node = EmulatedNode(serial_node, uart_fd=cable.master, log=tmp_path / "node.log")
        node.dht(DHT_PIN, 19.5, 40.0)
        node.drive(DOOR_PIN, 0)
        node.start()
        return node

    config = f'[serial]\nports = ["{cable.path}"]\nautodetect = false\n'
    try:
        with gateway_rig(tmp_path, config) as (gateway, watch):
            node = power_on()
            try:
                wait_for(watch.shows(STATUS, b"online"), what="online")
                wait_for(watch.shows("home/kitchen/temperature", b"19.5"), what="reading")
                wait_for(watch.shows("home/kitchen/door", b"OFF"), what="door")
                announced = watch.last("home/kitchen/kitchen_node/announce") or b""
                assert b'"tr":"serial"' in announced, announced
                node.drive(DOOR_PIN, 1)
                wait_for(watch.shows("home/kitchen/door", b"ON"), what="door open")
                # Outputs over the cable: switched and confirmed as over WiFi.
                watch.publish("home/kitchen/relay/set", b"ON")
                wait_for(lambda: node.level(RELAY_PIN) == 0, what="relay on (active low)")
                wait_for(watch.shows("home/kitchen/relay", b"ON"), what="relay confirmed")
                wait_for(watch.shows("home/kitchen/lamp", b"OFF"), what="lamp, nothing to restore")
                watch.publish("home/kitchen/lamp/set", b"TOGGLE")
                wait_for(watch.shows("home/kitchen/lamp", b"ON"), what="lamp toggled on")

                # Line noise: the bridge drops the damaged frame and the connection with it.
                comes_back_after(watch, lambda: write_line(cable, rng.randbytes(64)))
                node.dht(DHT_PIN, 19.7, 41.0)
                wait_for(watch.shows("home/kitchen/temperature", b"19.7"), what="after noise")

                # Half a frame: the node's next frame runs into it and fails its CRC.
                frame = encode_frame(FrameType.DATA, bytes([0xC0, 0x00]))
                comes_back_after(watch, lambda: write_line(cable, frame[: len(frame) // 2]))
                node.dht(DHT_PIN, 19.9, 42.0)
                wait_for(watch.shows("home/kitchen/temperature", b"19.9"), what="after half")

                # Reset: the node reboots mid-session, the ROM's 74880-baud boot text on the way.
                def reset() -> None:
                    nonlocal node
                    node.kill()
                    write_line(cable, rng.randbytes(96))
                    node = power_on()
                comes_back_after(watch, reset)
                wait_for(watch.shows("home/kitchen/temperature", b"19.5"), what="after reset")
                # After the reboot: the relay in its boot state, the lamp restored from the gateway.
                wait_for(lambda: node.level(LAMP_PIN) == 1, what="lamp restored after reset")
                wait_for(watch.shows("home/kitchen/relay", b"OFF"), what="relay boots off")

                # Unplug (the node loses power with the cable) and plug it in again.
                def unplug_and_replug() -> None:
                    nonlocal node
                    node.kill()
                    cable.unplug()
                    wait_for(watch.shows(STATUS, b"offline"), what="offline when unplugged")
                    cable.plug()
                    node = power_on()
                comes_back_after(watch, unplug_and_replug)

                # The gateway restarts: its bridge opens the port again and the node reconnects.
                online = watch.count(STATUS, b"online")
                gateway.stop()
                gateway.start()
                wait_for(lambda: watch.count(STATUS, b"online") > online, timeout=90,
                         what="online after the gateway restarted")
                log = (tmp_path / "gateway.log").read_text()
                assert "bad frame" in log
            finally:
                node.kill()
    finally:
        cable.close()
