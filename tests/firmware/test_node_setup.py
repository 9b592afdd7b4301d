"""`gateway node setup` over the USB cable to the generic node firmware (host emulation,
the core's EEPROM emulation as the node's flash, a pseudo-terminal as the cable): a node
without settings says so and waits; bad settings are refused with the reason and change
nothing; good ones are answered with the firmware version and what was accepted, stored,
and the node restarts into them, keeps them over power cuts, and works with them."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from emunode import EmulatedNode, NodeConfig, build_node, gateway_command, gateway_rig, wait_for
from support.ptycable import PtyCable

from gateway.node_setup import SetupError, settings_text
from gateway.serial.framing import Frame, FrameDecoder, FrameType

FIRMWARE_VERSION = "0.4.0"
STATUS = "home/attic/attic_node/status"


@pytest.fixture(scope="module")
def blank_node() -> Path:
    """The generic firmware: no NODE_PRESET, nothing about the node compiled in."""
    return build_node(NodeConfig(node_id="generic", preset=False))


def setup(cable: PtyCable, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [gateway_command(), "node", "setup", str(cable.path), "--timeout", "60", *args],
        capture_output=True, text=True, timeout=120)


def read_console(cable: PtyCable, until: bytes, timeout: float = 30.0) -> bytes:
    """What the node wrote on UART0 (its debug console on a WiFi node) until ``until``."""
    fd = os.open(cable.path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    seen = b""
    try:
        deadline = time.monotonic() + timeout
        while until not in seen:
            assert time.monotonic() < deadline, seen[-500:]
            try:
                seen += os.read(fd, 4096)
            except BlockingIOError:
                time.sleep(0.05)
    finally:
        os.close(fd)
    return seen


def test_a_blank_node_is_set_up_over_the_cable(blank_node: Path, tmp_path: Path) -> None:
    cable = PtyCable(tmp_path / "ttyUSB0")
    flash = tmp_path / "flash"
    flash.mkdir()
    try:
        with gateway_rig(tmp_path) as (gateway, watch):
            node = EmulatedNode(blank_node, uart_fd=cable.master, log=tmp_path / "node.log",
                                flash_dir=flash)
            node.dht(14, 21.5, 48.0)
            node.drive(12, 0)
            node.start()
            try:
                # No settings: it says so and waits (no MQTT connection, nothing published).
                read_console(cable, b"no settings")
                assert watch.last(STATUS) is None

                # Bad settings on a blank node: refused, and it still has none.
                bad = setup(cable, "--name", "attic_node", "--room", "attic",
                            "--pin", "3=contact:door")
                assert bad.returncode == 1, bad
                assert f"node (firmware {FIRMWARE_VERSION}) refused" in bad.stderr, bad.stderr
                assert "unknown pin: 3 is not a usable GPIO (4, 5, 12, 13, 14)" in bad.stderr
                assert node.alive()
                read_console(cable, b"no settings")

                good = setup(cable, "--name", "attic_node", "--room", "attic",
                             "--wifi-ssid", "emulated", "--wifi-password", "secret",
                             "--gateway", f"127.0.0.1:{gateway.port}", "--interval", "2",
                             "--pin", "14=dht22", "--pin", "12=contact:door",
                             "--pin", "5=relay:fan")
                assert good.returncode == 0, good
                assert (f"node firmware {FIRMWARE_VERSION} accepted: name=attic_node "
                        f"room=attic gateway=127.0.0.1:{gateway.port} interval=2 sleep=0 "
                        "pins=14:dht22,12:contact:door,5:relay:fan") in good.stdout, good.stdout
                assert "secret" not in good.stdout
                # It restarts into them (the emulation's ESP.restart() ends the process; the
                # chip's reset is the test powering it again).
                assert node.wait_exit(60) == 0
                node.start()
                wait_for(watch.shows(STATUS, b"online"), what="online with its new settings")
                wait_for(watch.shows("home/attic/temperature", b"21.5"), what="DHT on GPIO14")
                wait_for(watch.shows("home/attic/door", b"OFF"), what="contact on GPIO12")
                watch.publish("home/attic/fan/set", b"ON")
                wait_for(lambda: node.level(5) == 1, what="relay on GPIO5 (active high)")

                # Bad settings on a working node: each refused with its reason, nothing changes.
                for args, reason in [
                    (("--name", "Attic Node", "--room", "attic"), "bad name"),
                    (("--name", "attic_node", "--room", "attic", "--pin", "12=contact:door",
                      "--pin", "12=relay:fan"), "pin used twice: GPIO12"),
                    (("--name", "attic_node", "--room", "attic", "--pin", "16=relay:fan"),
                     "unknown pin: 16"),
                    # Valid for a serial node; this one would never reach its gateway.
                    (("--name", "attic_node", "--room", "attic", "--pin", "14=dht22"),
                     "wifi_ssid is required: this node reaches the gateway over WiFi"),
                ]:
                    refused = setup(cable, *args)
                    assert refused.returncode == 1, refused
                    assert reason in refused.stderr, refused.stderr
                    assert "keeps its previous settings" in refused.stderr
                assert node.alive(), "a refused setup must not restart the node"
                assert watch.count(STATUS, b"offline") == 0

                # A power cut: the settings are in flash, the node comes back as it was.
                online = watch.count(STATUS, b"online")
                node.kill()
                node.start()
                wait_for(lambda: watch.count(STATUS, b"online") > online, what="back online")
                node.drive(12, 1)
                wait_for(watch.shows("home/attic/door", b"ON"), what="door after power cut")
            finally:
                node.kill()
    finally:
        cable.close()


def test_settings_text_refuses_what_the_node_could_misread() -> None:
    text = settings_text({"name": "n", "room": "r", "wifi_ssid": None}, ("14=dht22", "5=relay:x"))
    assert text == "name=n\nroom=r\npin=14:dht22\npin=5:relay:x\n"
    with pytest.raises(SetupError, match="line break"):
        settings_text({"name": "n", "room": "r\npin=3:relay:x"}, ())
    with pytest.raises(SetupError, match="expected GPIO=kind"):
        settings_text({"name": "n"}, ("dht22",))
    with pytest.raises(SetupError, match="768"):
        settings_text({"wifi_password": "x" * 800}, ())


def test_setup_says_when_no_node_answers(tmp_path: Path) -> None:
    cable = PtyCable(tmp_path / "ttyUSB0")
    try:
        proc = subprocess.run(
            [gateway_command(), "node", "setup", str(cable.path), "--name", "n", "--room", "r",
             "--timeout", "1"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1
        assert "no answer from a node" in proc.stderr, proc.stderr
        sent = FrameDecoder(1024).feed(os.read(cable.master, 4096))
        assert sent and sent[0] == Frame(FrameType.SETTINGS, b"name=n\nroom=r\ngateway=gateway.local\n")
    finally:
        cable.close()


def test_a_blank_serial_node_is_set_up_then_bridged(tmp_path: Path) -> None:
    """A node built for the serial transport: set up over the same cable, then its link."""
    exe = build_node(NodeConfig(node_id="generic", transport="SERIAL", preset=False))
    cable = PtyCable(tmp_path / "ttyUSB0")
    flash = tmp_path / "flash"
    flash.mkdir()
    node = EmulatedNode(exe, uart_fd=cable.master, log=tmp_path / "node.log", flash_dir=flash)
    node.dht(14, 19.0, 51.0)
    try:
        node.start()
        good = setup(cable, "--name", "cellar_node", "--room", "cellar", "--pin", "14=dht22",
                     "--interval", "2")
        assert good.returncode == 0, good
        assert f"node firmware {FIRMWARE_VERSION} accepted: name=cellar_node" in good.stdout
        assert node.wait_exit(60) == 0
        config = f'[serial]\nports = ["{cable.path}"]\nautodetect = false\n'
        with gateway_rig(tmp_path, config) as (_, watch):
            node.start()
            wait_for(watch.shows("home/cellar/cellar_node/status", b"online"), timeout=60,
                     what="the serial node online through the bridge")
            wait_for(watch.shows("home/cellar/temperature", b"19.0"), what="its reading")
        # Set up again while its link owns the cable (the gateway stopped, as the README
        # says): the link hands the frame over; bad settings change nothing, good ones
        # restart it into its new room.
        bad = setup(cable, "--name", "cellar_node", "--room", "cellar", "--pin", "3=dht22")
        assert bad.returncode == 1 and "unknown pin: 3" in bad.stderr, bad
        assert node.alive()
        again = setup(cable, "--name", "cellar_node", "--room", "basement", "--pin", "14=dht22",
                      "--interval", "2")
        assert again.returncode == 0, again
        assert "accepted: name=cellar_node room=basement" in again.stdout, again.stdout
        assert node.wait_exit(60) == 0
        with gateway_rig(tmp_path, config) as (_, watch):
            node.start()
            wait_for(watch.shows("home/basement/temperature", b"19.0"), timeout=60,
                     what="its reading from the new room")
    finally:
        node.kill()
        cable.close()
