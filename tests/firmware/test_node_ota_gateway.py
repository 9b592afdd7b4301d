"""Node firmware updates end to end: the emulated node (firmware/node in the core's host
emulation, helper branch h-otanode) against the gateway's own update side, with nothing
played by the test: `gateway node update` asks, `gateway run` offers an image of its store,
serves it over HTTP (WiFi node) or in UPDATE_READ chunks through its serial bridge (serial
node), follows the progress, withdraws the offer and publishes Home Assistant's state."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from emunode import (
    DOOR_PIN,
    EmulatedNode,
    NodeConfig,
    build_node,
    gateway_command,
    gateway_rig,
    wait_for,
)
from otarig import make_image
from support.ports import free_port
from support.ptycable import PtyCable
from test_node_ota import NEW, OFFER, OLD, check_download_reports, check_installed, reported

STATE = "home/kitchen/kitchen_node/firmware/state"


def store_image(tmp_path: Path, image: bytes) -> None:
    """The image in the gateway's store (`gateway node firmware add` does the same)."""
    source = tmp_path / f"node-{NEW}.bin"
    source.write_bytes(image)
    subprocess.run([gateway_command(), "node", "firmware", "add", str(source), "--data-dir",
                    str(tmp_path / "state")], check=True, capture_output=True)


def nodes_config(http_port: int) -> str:
    return (f'[nodes]\nfirmware_port = {http_port}\n'
            f'firmware_url = "http://127.0.0.1:{http_port}"\n')


def test_wifi_node_updated_by_gateway_node_update(tmp_path: Path) -> None:
    old_exe, new_exe = build_node(NodeConfig()), build_node(NodeConfig(version=NEW))
    image = make_image(64 * 1024, seed=21)
    store_image(tmp_path, image)
    with gateway_rig(tmp_path, nodes_config(free_port())) as (gateway, watch):
        node = EmulatedNode(old_exe, port=gateway.port, log=tmp_path / "node.log")
        try:
            node.start()
            wait_for(reported(watch, st="idle", v=OLD), timeout=60, what="idle")
            wait_for(lambda: json.loads(watch.last(STATE) or b"{}").get("latest_version")
                     == NEW, timeout=90, what="the state naming the newer image")
            cli = subprocess.Popen(
                [gateway_command(), "node", "update", "kitchen_node", "--broker",
                 f"mqtt://127.0.0.1:{gateway.port}", "--timeout", "240"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            check_installed(node, image)
            check_download_reports(watch, NEW)
            (node.flash_dir / "flash-app.bin").unlink()
            node.exe = new_exe
            node.start()
            out, err = cli.communicate(timeout=240)
            assert cli.returncode == 0, out + err
            assert "kitchen_node: download 100 %" in out.splitlines()
            assert out.splitlines()[-1] == f"kitchen_node: now runs firmware {NEW}"
            wait_for(lambda: watch.last(OFFER) == b"", timeout=90, what="the offer withdrawn")
            offer = json.loads(next(p for p in watch.payloads(OFFER) if p))
            assert offer["url"].endswith(f"/firmware/node-{NEW}.bin") and offer["try"] == 1
            assert json.loads(watch.last(STATE) or b"{}") == {
                "installed_version": NEW, "latest_version": NEW,
                "title": "Sensor node firmware", "in_progress": False,
                "update_percentage": None}
        finally:
            node.kill()


def test_serial_node_pulls_the_image_from_the_gateways_bridge(tmp_path: Path) -> None:
    old_exe = build_node(NodeConfig(transport="SERIAL"))
    new_exe = build_node(NodeConfig(transport="SERIAL", version=NEW))
    image = make_image(20 * 1024 + 77, seed=5)
    store_image(tmp_path, image)
    cable = PtyCable(tmp_path / "ttyNODE")
    config = (f'[serial]\nports = ["{cable.path}"]\nautodetect = false\n'
              + nodes_config(0))
    node = EmulatedNode(old_exe, uart_fd=cable.master, log=tmp_path / "node.log")
    try:
        with gateway_rig(tmp_path, config) as (gateway, watch):
            node.drive(DOOR_PIN, 0)
            node.start()
            wait_for(reported(watch, st="idle", v=OLD), timeout=60, what="idle")
            watch.publish("home/kitchen/kitchen_node/firmware/install", b"install")
            check_installed(node, image)
            check_download_reports(watch, NEW)
            (tmp_path / "flash-app.bin").unlink()
            node.exe = new_exe
            node.start()
            wait_for(reported(watch, st="idle", v=NEW), timeout=60, what="idle, new version")
            wait_for(lambda: watch.last(OFFER) == b"", timeout=90, what="the offer withdrawn")
            node.drive(DOOR_PIN, 1)
            wait_for(watch.shows("home/kitchen/door", b"ON"), what="the new build publishing")
    finally:
        node.kill()
        cable.close()
