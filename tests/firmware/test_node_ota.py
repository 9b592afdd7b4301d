"""Node firmware updates (docs/contracts.md, "Node firmware updates"), the node's side, in
the ESP8266 core's host emulation against `gateway run`'s broker. The test plays the
gateway's update service: it publishes the retained offer, serves the image over HTTP (a
WiFi node, the core's ESP8266httpUpdate) or over the cable (a serial node, UPDATE_READ
frames), and boots the node again with the newer build once the emulated boot loader has
the staged image (firmware/emu/emu_flash.cpp)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from emunode import (
    DHT_PIN,
    DOOR_PIN,
    EmulatedNode,
    NodeConfig,
    build_node,
    gateway_rig,
    wait_for,
    wifi_rig,
)
from otarig import (
    CableTap,
    ChunkServer,
    ImageServer,
    make_image,
    md5_hex,
    offer_payload,
)
from support.mqtt_watch import Watcher
from support.ptycable import PtyCable

OLD, NEW = "0.4.0", "0.4.1"
NODE = "home/kitchen/kitchen_node"
OFFER = f"{NODE}/firmware/offer"
PROGRESS = f"{NODE}/firmware/progress"
IMAGE_PATH = f"/firmware/node-{NEW}.bin"


@pytest.fixture(scope="module")
def wifi_builds() -> tuple[Path, Path]:
    """The running firmware (node.ino's version) and the newer build it updates to."""
    return build_node(NodeConfig()), build_node(NodeConfig(version=NEW))


def reports(watch: Watcher, topic: str = PROGRESS) -> list[dict]:
    return [json.loads(p) for p in watch.payloads(topic) if p]


def reported(watch: Watcher, **fields: object):
    return lambda: any(all(r.get(k) == v for k, v in fields.items()) for r in reports(watch))


def check_installed(node: EmulatedNode, image: bytes) -> None:
    """The node staged exactly `image` for its boot loader and restarted, as the mock does
    (the process ends with status 0)."""
    wait_for(lambda: "restart" in node.events, timeout=60, what="the restart")
    assert node.wait_exit(30) == 0
    copies = [e.split()[3:] for e in node.events if e.startswith("eboot copy")]
    assert copies == [["0", str(len(image))]], node.events
    assert (node.flash_dir / "flash-app.bin").read_bytes() == image


def check_still_running(node: EmulatedNode, watch: Watcher, level: int) -> None:
    """No restart, and the (old) firmware still publishes: the door driven to `level`."""
    assert node.alive() and "restart" not in node.events
    node.drive(DOOR_PIN, level)
    wait_for(watch.shows("home/kitchen/door", b"ON" if level else b"OFF"),
             what="the old firmware still publishing")


def check_download_reports(watch: Watcher, version: str, topic: str = PROGRESS) -> None:
    """The last attempt's reports: download at least every 10 %, up to 100, then verify
    and reboot, all for `version`."""
    wait_for(lambda: any(r["st"] == "reboot" for r in reports(watch, topic)), what="reboot")
    every = reports(watch, topic)
    failures = [i for i, r in enumerate(every) if r["st"] == "failed"]
    states = [r for r in every[failures[-1] + 1 if failures else 0:] if r.get("v") == version]
    steps = [r["pct"] for r in states if r["st"] == "download"]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == 100, steps
    assert {pct // 10 for pct in steps} == set(range(11)), steps  # one in every tenth
    assert [r["st"] for r in states if r["st"] != "download"] == ["verify", "reboot"], states


def test_wifi_node_fetches_checks_and_boots_into_the_offered_image(
        wifi_builds: tuple[Path, Path], tmp_path: Path) -> None:
    old_exe, new_exe = wifi_builds
    image = make_image(96 * 1024)
    server = ImageServer()
    server.images[IMAGE_PATH] = (image, None)
    try:
        with wifi_rig(old_exe, tmp_path) as (gateway, watch, node):
            node.start()
            idle_old = json.dumps({"st": "idle", "v": OLD}, separators=(",", ":")).encode()
            wait_for(watch.shows(PROGRESS, idle_old), what="idle with its version at connect")

            watch.publish(OFFER, offer_payload(NEW, image, server.url(IMAGE_PATH)), retain=True)
            check_installed(node, image)
            check_download_reports(watch, NEW)
            assert watch.last(f"{NODE}/status") == b"online"  # a clean goodbye, no will

            # The request the core's HTTP updater sent.
            [request] = server.requests
            assert request.path == IMAGE_PATH
            headers = {k.lower(): v for k, v in request.headers.items()}
            assert headers["user-agent"] == "ESP8266-http-Update"
            assert headers["x-esp8266-version"] == OLD
            assert headers["x-esp8266-mode"] == "sketch"
            assert headers["x-esp8266-chip-id"] == str(0xEE1337)
            assert int(headers["x-esp8266-free-space"]) >= len(image)
            assert len(headers["x-esp8266-sketch-md5"]) == 32

            # The boot loader's copy runs the new build: it says so at its first connect,
            # and the offer (still there until the gateway withdraws it) is not fetched again.
            (node.flash_dir / "flash-app.bin").unlink()
            node.exe = new_exe
            node.start()
            idle_new = json.dumps({"st": "idle", "v": NEW}, separators=(",", ":")).encode()
            wait_for(watch.shows(PROGRESS, idle_new), what="idle with the new version")
            wait_for(lambda: f'"fw":"{NEW}"'.encode() in (watch.last(f"{NODE}/announce") or b""),
                     what="announce with the new version")
            node.drive(DOOR_PIN, 1)
            wait_for(watch.shows("home/kitchen/door", b"ON"), what="the new build publishing")
            assert len(server.requests) == 1
            assert node.alive()
    finally:
        server.close()


def test_wifi_node_refuses_bad_offers_and_images_and_keeps_running(
        wifi_builds: tuple[Path, Path], tmp_path: Path) -> None:
    old_exe, _ = wifi_builds
    image = make_image(40 * 1024, seed=7)
    corrupt = bytearray(image)
    corrupt[20000] ^= 0x01
    server = ImageServer()
    # A server that lies: its x-MD5 matches the damaged bytes. The node checks the offer's.
    server.images[IMAGE_PATH] = (bytes(corrupt), md5_hex(bytes(corrupt)))
    url = server.url(IMAGE_PATH)

    def still_running(level: int) -> None:
        check_still_running(node, watch, level)

    try:
        with wifi_rig(old_exe, tmp_path) as (gateway, watch, node):
            node.drive(DOOR_PIN, 0)
            node.start()
            wait_for(reported(watch, st="idle", v=OLD), what="idle")

            # A malformed offer: refused with the reason, nothing fetched.
            bad = json.loads(offer_payload(NEW, image, url))
            bad["md5"] = bad["md5"][:30]
            watch.publish(OFFER, json.dumps(bad), retain=True)
            wait_for(reported(watch, st="failed", err="bad md5 (32 hex digits)"), what="bad md5")
            huge = offer_payload(NEW, image, url, size=64 * 1024 * 1024)
            watch.publish(OFFER, huge, retain=True)
            wait_for(reported(watch, st="failed", err="bad size (1 byte to 1 MiB)"), what="huge")
            assert server.requests == []
            still_running(1)

            # A damaged image: downloaded whole, refused by the MD5 check, never staged.
            watch.publish(OFFER, offer_payload(NEW, image, url, attempt=1), retain=True)
            wait_for(reported(watch, st="failed", v=NEW, err="md5 mismatch"), timeout=60,
                     what="md5 mismatch")
            assert [r["st"] for r in reports(watch)][-2:] == ["verify", "failed"]
            assert len(server.requests) == 1
            assert not (node.flash_dir / "flash-app.bin").exists()
            assert not any(e.startswith("eboot") for e in node.events)
            still_running(0)

            # The same (md5, try) again is not retried; a withdrawal and the same offer
            # again neither.
            watch.publish(OFFER, b"", retain=True)
            watch.publish(OFFER, offer_payload(NEW, image, url, attempt=1), retain=True)
            still_running(1)
            assert len(server.requests) == 1

            # try 2 with a size that is not the server's: refused before anything is written.
            server.images[IMAGE_PATH] = (image, None)
            watch.publish(OFFER, offer_payload(NEW, image, url, attempt=2,
                                               size=len(image) + 1), retain=True)
            wait_for(reported(watch, st="failed", v=NEW,
                              err=f"size differs from the offer ({len(image) + 1})"),
                     timeout=60, what="size mismatch")
            assert len(server.requests) == 2
            still_running(0)

            # A missing image (404) fails with the updater's reason.
            watch.publish(OFFER, offer_payload(NEW, image, url + "x", attempt=3), retain=True)
            wait_for(reported(watch, st="failed", v=NEW, err="File Not Found (404)"),
                     timeout=60, what="404")

            # try 4, right this time: installed.
            watch.publish(OFFER, offer_payload(NEW, image, url, attempt=4), retain=True)
            check_installed(node, image)
    finally:
        server.close()


def test_sleeping_node_installs_at_wake_up(tmp_path: Path) -> None:
    exe = build_node(NodeConfig(node_id="battery_node", outputs=(), sleep=600))
    topic = "home/kitchen/battery_node/firmware"
    image = make_image(48 * 1024, seed=3)  # Updater reports every 4 KB: < 10 %
    server = ImageServer()
    server.images[IMAGE_PATH] = (image, None)
    try:
        with wifi_rig(exe, tmp_path) as (gateway, watch, node):
            node.dht(DHT_PIN, 18.5, 55.0)
            # Asleep when the gateway offers the update (the offer is retained).
            watch.publish(f"{topic}/offer",
                          offer_payload(NEW, image, server.url(IMAGE_PATH)), retain=True)
            node.start()
            check_installed(node, image)
            assert not any(e.startswith("deep-sleep") for e in node.events)
            check_download_reports(watch, NEW, f"{topic}/progress")
            assert reports(watch, f"{topic}/progress")[0] == {"st": "idle", "v": OLD}

            # Without an offer it wakes, publishes and sleeps again as before.
            watch.publish(f"{topic}/offer", b"", retain=True)
            node.start()
            wait_for(lambda: any(e.startswith("deep-sleep") for e in node.events),
                     timeout=60, what="deep sleep")
            assert len(server.requests) == 1
    finally:
        server.close()


def test_serial_node_pulls_the_image_over_its_cable(tmp_path: Path) -> None:
    old_exe = build_node(NodeConfig(transport="SERIAL"))
    new_exe = build_node(NodeConfig(transport="SERIAL", version=NEW))
    image = make_image(20 * 1024 + 77, seed=5)
    md5 = bytes.fromhex(md5_hex(image))
    node_cable = PtyCable(tmp_path / "ttyNODE")    # the node holds its master end
    bridge_cable = PtyCable(tmp_path / "ttyGW")    # the gateway's bridge opens this one
    chunks = ChunkServer()
    tap = CableTap(node_cable.path, bridge_cable.master, chunks)
    config = f'[serial]\nports = ["{bridge_cable.path}"]\nautodetect = false\n'

    def still_running(level: int) -> None:
        check_still_running(node, watch, level)

    try:
        with gateway_rig(tmp_path, config) as (gateway, watch):
            node = EmulatedNode(old_exe, uart_fd=node_cable.master, log=tmp_path / "node.log")
            node.drive(DOOR_PIN, 0)
            node.start()
            wait_for(reported(watch, st="idle", v=OLD), timeout=60, what="idle")

            # The gateway has no such image: its UPDATE_ERROR reason is the failure's.
            watch.publish(OFFER, offer_payload(NEW, image, attempt=1), retain=True)
            wait_for(reported(watch, st="failed", v=NEW, err="gateway: no image with this md5"),
                     what="no image")
            assert chunks.reads[0].md5 == md5 and chunks.reads[0].offset == 0
            still_running(1)

            # Damaged chunks (each passes the frame's CRC): the MD5 catches them, no staging.
            chunks.images[md5] = image
            chunks.corrupt = True
            watch.publish(OFFER, offer_payload(NEW, image, attempt=2), retain=True)
            wait_for(reported(watch, st="failed", v=NEW, err="md5 mismatch"), timeout=60,
                     what="md5 mismatch")
            assert not any(e.startswith("eboot") for e in node.events)
            still_running(0)

            # A gateway that stops answering: the read is repeated each second, five times.
            # The gateway's next try, offered meanwhile, follows the failure by itself; two
            # of its reads are lost as well, then answered one chunk after another.
            chunks.corrupt = False
            chunks.mute = 6 + 2
            before = len(chunks.reads)
            watch.publish(OFFER, offer_payload(NEW, image, attempt=3), retain=True)
            wait_for(lambda: len(chunks.reads) > before, what="try 3 reading")
            watch.publish(OFFER, offer_payload(NEW, image, attempt=4), retain=True)
            check_installed(node, image)
            assert reported(watch, st="failed", v=NEW, err="no answer at offset 0")()
            check_download_reports(watch, NEW)
            silent, pulled = chunks.reads[before:before + 6], chunks.reads[before + 6:]
            assert [r.offset for r in silent] == [0] * 6
            gaps = [b.at - a.at for a, b in zip(silent, silent[1:], strict=False)]
            assert all(gap >= 0.9 for gap in gaps), gaps
            assert [r.offset for r in pulled[:3]] == [0, 0, 0]
            offsets = [r.offset for r in pulled[2:]]
            assert offsets == list(range(0, len(image), 256)), offsets
            assert all(r.length == min(256, len(image) - r.offset) for r in pulled)

            # The boot loader's copy runs the new build, on the same cable.
            (tmp_path / "flash-app.bin").unlink()
            node.exe = new_exe
            node.start()
            wait_for(reported(watch, st="idle", v=NEW), timeout=60, what="idle, new version")
            still_running(0)
            node.kill()
    finally:
        tap.close()
        node_cable.close()
        bridge_cable.close()
