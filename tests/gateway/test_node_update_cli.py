"""`gateway node update NAME|--all` from the LAN against `gateway run`, with a node played
by paho and urllib (support.played_node): the request, the offer, the download from the
gateway's image server, the progress, the new version; and a failure."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from gw_helpers import gateway_command
from support.lan import Lan
from support.node_images import md5_hex
from support.played_node import PlayedNode
from support.update_rig import UpdateRig, update_rig


@pytest.fixture
def rig(lan: Lan, tmp_path: Path) -> Iterator[UpdateRig]:
    with update_rig(lan, tmp_path) as running:
        yield running


def cli(rig: UpdateRig, *args: str, user: str = "gwadmin") -> subprocess.CompletedProcess:
    return rig.lan.run([*gateway_command(), "node", "update", *args, "--broker",
                        rig.url(user), "--timeout", "60"],
                       capture_output=True, text=True, timeout=120)


def test_update_a_node_and_follow_it(rig: UpdateRig) -> None:
    node = PlayedNode(rig)
    node.start()
    assert node.online.wait(60)
    result = cli(rig, "attic_node")
    node.join()
    assert result.returncode == 0, result.stdout + result.stderr
    data = (rig.firmware_dir / "node-0.4.0.bin").read_bytes()
    (offer,) = node.offers
    assert offer == {"v": "0.4.0", "md5": md5_hex(data), "size": len(data), "try": 1,
                     "url": f"http://{rig.host}:{rig.http_port}/firmware/node-0.4.0.bin"}
    lines = result.stdout.splitlines()
    assert lines[0] == "attic_node: update from 0.3.0 to 0.4.0 requested"
    assert "attic_node: download 50 %" in lines
    assert "attic_node: verify" in lines and "attic_node: reboot" in lines
    assert lines[-1] == "attic_node: now runs firmware 0.4.0"
    # Asked again: nothing to do.
    again = cli(rig, "--all")
    assert again.returncode == 0
    assert "attic_node: runs firmware 0.4.0; the gateway has nothing newer" in again.stdout


def test_a_failed_update_exits_1_with_the_nodes_reason_and_retries(rig: UpdateRig) -> None:
    node = PlayedNode(rig, fail="md5 mismatch")
    node.start()
    assert node.online.wait(60)
    result = cli(rig, "attic_node")
    node.join()
    assert result.returncode == 1
    assert "attic_node: update to 0.4.0 failed: md5 mismatch" in result.stderr
    # The node still runs (no reboot since): it ignores the retained offer that failed.
    node = PlayedNode(rig, last_failed=node.last_failed)
    node.start()
    assert node.online.wait(60)
    result = cli(rig, "attic_node")
    node.join()
    assert result.returncode == 0, result.stdout + result.stderr
    assert node.offers[0]["try"] == 2


def test_a_node_without_the_updater_is_told_at_once(rig: UpdateRig) -> None:
    old = rig.client("attic_node", client_id="attic_node", version=4)
    old.publish("home/attic/attic_node/announce", '{"fw":"0.3.0","tr":"wifi"}', qos=1,
                retain=True)                  # firmware 0.3.0: no progress, no updater
    result = cli(rig, "attic_node")
    old.disconnect()
    assert result.returncode == 1
    assert "attic_node: update to 0.4.0 failed: it has never reported update progress; its " \
        "firmware cannot update over the air (flash it once by cable)" in result.stderr


def test_unknown_node_and_usage(rig: UpdateRig) -> None:
    result = cli(rig, "nobody")
    assert result.returncode == 1 and "no node 'nobody' has announced itself" in result.stderr
    result = cli(rig)
    assert result.returncode == 2 and "give a node NAME or --all" in result.stderr


def test_the_home_assistant_state_follows_the_node(rig: UpdateRig) -> None:
    watcher = rig.client("phone")
    watcher.subscribe("home/attic/attic_node/firmware/state", qos=1)
    node = PlayedNode(rig)
    node.start()
    assert node.online.wait(60)
    assert cli(rig, "attic_node").returncode == 0
    node.join()
    states = []
    while not watcher.messages.empty():
        states.append(json.loads(watcher.messages.get().payload))
    assert states[0]["installed_version"] == "0.3.0" and states[0]["in_progress"] is False
    assert any(s["in_progress"] and s["update_percentage"] == 50 for s in states)
    assert states[-1] == {"installed_version": "0.4.0", "latest_version": "0.4.0",
                          "title": "Sensor node firmware", "in_progress": False,
                          "update_percentage": None}
    watcher.disconnect()
