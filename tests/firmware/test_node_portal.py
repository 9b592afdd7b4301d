"""Set-up from a phone (firmware/node/setup_portal.h), in the ESP8266 core's host emulation:
a WiFi node without settings opens its access point, answers every DNS name with its own
address (the core's DNSServer), redirects a phone's captive-portal check to its form (the
core's ESP8266WebServer), refuses bad settings with the reason and stores nothing, and
stores good ones, restarts, and reports to the gateway with them.

The mock moves the node's servers (UDP 53, TCP 80) by a port shift (EmulatedNode.server_port);
the phone here is plain sockets: a DNS query by hand and http.client."""

from __future__ import annotations

import http.client
import re
import socket
import struct
import urllib.parse
from pathlib import Path

import pytest
from emunode import EmulatedNode, NodeConfig, build_node, gateway_rig, wait_for
from support.ports import accepts

EEPROM = "eeprom"  # the core's EEPROM emulation: the node's flash sector, in its directory
STATUS = "home/attic/attic_node/status"


@pytest.fixture(scope="module")
def blank_node() -> Path:
    """The generic firmware (no NODE_PRESET), as test_node_setup.py builds it."""
    return build_node(NodeConfig(node_id="generic", preset=False))


def dns_a(port: int, name: str) -> list[str]:
    """The IPv4 answers of a DNS server on 127.0.0.1:port to an A query for ``name``."""
    question = b"".join(bytes([len(label)]) + label.encode() for label in name.split("."))
    query = struct.pack(">HHHHHH", 0x5EED, 0x0100, 1, 0, 0, 0) + question + b"\0\0\1\0\1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10)
        sock.sendto(query, ("127.0.0.1", port))
        reply, _ = sock.recvfrom(512)
    ident, flags, _, answers = struct.unpack(">HHHH", reply[:8])
    assert ident == 0x5EED and flags & 0x8000 and flags & 0xF == 0, reply
    at = 12 + len(question) + 5
    found = []
    for _ in range(answers):
        at += 2 if reply[at] & 0xC0 else reply.index(b"\0", at) + 1 - at
        rtype, _, _, length = struct.unpack(">HHIH", reply[at:at + 10])
        at += 10
        if rtype == 1:
            found.append(socket.inet_ntoa(reply[at:at + length]))
        at += length
    return found


class Phone:
    """What a phone on the node's access point does over HTTP."""

    def __init__(self, address: str, port: int) -> None:
        self.address = address
        self.port = port

    def request(self, method: str, path: str, host: str | None = None,
                form: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        conn = http.client.HTTPConnection(self.address, self.port, timeout=30)
        try:
            headers = {"Host": host or self.address}
            body = None
            if form is not None:
                body = urllib.parse.urlencode(form)
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read().decode()
        finally:
            conn.close()


def console_address(log: Path) -> str:
    """The address the node says its set-up page is at (its debug console)."""
    found: list[str] = []

    def said() -> bool:
        text = log.read_text(errors="replace") if log.exists() else ""
        found[:] = re.findall(r"set-up page: join WiFi gwnode-ee1337 and open http://([\d.]+)/",
                              text)
        return bool(found)

    wait_for(said, 60, "the node's set-up page on its console")
    return found[0]


def flash(directory: Path) -> bytes:
    path = directory / EEPROM
    return path.read_bytes() if path.exists() else b""


def test_a_blank_node_is_set_up_from_a_phone(blank_node: Path, tmp_path: Path) -> None:
    log = tmp_path / "node.log"
    flash_dir = tmp_path / "flash"
    flash_dir.mkdir()
    with gateway_rig(tmp_path) as (gateway, watch):
        node = EmulatedNode(blank_node, port=gateway.port, log=log, flash_dir=flash_dir)
        node.dht(14, 22.5, 40.0)
        node.drive(12, 0)
        node.start()
        try:
            address = console_address(log)
            http_port = node.server_port(80)
            wait_for(lambda: accepts(http_port), 60, "the set-up page")

            # The phone's captive-portal check: every name is the node, every page elsewhere
            # a redirect to its form, so the phone opens "Sign in to network".
            for name in ("connectivitycheck.gstatic.com", "captive.apple.com", "gateway.local"):
                assert dns_a(node.server_port(53), name) == [address], name
            phone = Phone(address, http_port)
            status, headers, _ = phone.request("GET", "/generate_204",
                                               host="connectivitycheck.gstatic.com")
            assert (status, headers["Location"]) == (302, f"http://{address}/")

            status, _, page = phone.request("GET", "/")
            assert status == 200
            assert "<title>Set up gwnode-ee1337</title>" in page
            assert "It has no settings yet." in page
            for field in ("name", "room", "wifi_ssid", "wifi_password", "gateway", "mqtt_user",
                          "mqtt_password", "interval", "sleep", "pins"):
                assert f'name="{field}"' in page, field

            # Bad settings: the reason on the page, the form as typed, the flash untouched.
            good = {"name": "attic_node", "room": "attic", "wifi_ssid": "emulated",
                    "wifi_password": "secret", "gateway": f"127.0.0.1:{gateway.port}",
                    "interval": "2", "pins": "14:dht22\r\n12:contact:door\r\n5:relay:fan"}
            before = flash(flash_dir)
            for change, reason in [
                ({"pins": "3:contact:door"},
                 "unknown pin: 3 is not a usable GPIO (4, 5, 12, 13, 14)"),
                ({"pins": "12:contact:door 12:relay:fan"}, "pin used twice: GPIO12"),
                ({"name": "Attic Node"}, "bad name (a-z, 0-9, _, at most 32): Attic Node"),
                ({"room": "attic\nname=intruder"}, "room: a line break is not allowed"),
                ({"wifi_ssid": ""},
                 "wifi_ssid is required: this node reaches the gateway over WiFi"),
            ]:
                status, _, page = phone.request("POST", "/", form={**good, **change})
                assert status == 400, page
                assert f"Not saved, nothing changed: {reason}" in page, page
                typed = next(iter(change.values()))
                if "\n" not in typed:
                    assert typed in page, "the form comes back as typed"
                assert "secret" not in page, "a password is never shown"
                assert flash(flash_dir) == before, reason
                assert node.alive()
            assert b"GWS1" not in flash(flash_dir)
            assert watch.last(STATUS) is None

            # Good settings: accepted (the cable's answer), stored, and the node restarts
            # into them (the emulation's ESP.restart() ends the process: the test powers
            # it again, as the chip's reset would).
            status, _, page = phone.request("POST", "/", form=good)
            assert status == 200, page
            assert (f"The node accepted: name=attic_node room=attic gateway=127.0.0.1:"
                    f"{gateway.port} interval=2 sleep=0 pins=14:dht22,12:contact:door,"
                    "5:relay:fan") in page, page
            assert "secret" not in page
            assert node.wait_exit(60) == 0
            stored = flash(flash_dir)
            assert stored.startswith(b"GWS1")
            assert b"name=attic_node\nroom=attic\nwifi_ssid=emulated\nwifi_password=secret\n" in stored
            assert b"pin=14:dht22\npin=12:contact:door\npin=5:relay:fan\n" in stored

            node.start()
            wait_for(watch.shows(STATUS, b"online"), 60, "online with the phone's settings")
            wait_for(watch.shows("home/attic/temperature", b"22.5"), what="DHT on GPIO14")
            wait_for(watch.shows("home/attic/door", b"OFF"), what="contact on GPIO12")
            watch.publish("home/attic/fan/set", b"ON")
            wait_for(lambda: node.level(5) == 1, what="relay on GPIO5")
            # Set up and working: the access point and its page are gone.
            assert not accepts(http_port)
        finally:
            node.kill()


def test_a_node_with_settings_opens_no_access_point(tmp_path: Path) -> None:
    """A preset node whose WiFi works (the emulation's always does) runs normally and
    serves no set-up page."""
    exe = build_node(NodeConfig())
    with gateway_rig(tmp_path) as (gateway, watch):
        node = EmulatedNode(exe, port=gateway.port, log=tmp_path / "node.log")
        node.start()
        try:
            wait_for(watch.shows("home/kitchen/kitchen_node/status", b"online"), 60, "online")
            assert not accepts(node.server_port(80))
            assert "set-up page" not in (tmp_path / "node.log").read_text(errors="replace")
        finally:
            node.kill()


def test_a_node_whose_wifi_fails_offers_its_page_with_its_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stored WiFi settings that stop working (NODE_WIFI=down: the emulated station never
    finds its network): after PORTAL_AFTER_S (3 s in this build) the page opens, filled in
    with the stored settings but no password; a password left empty keeps the stored one."""
    exe = build_node(NodeConfig(node_id="moved", preset=False, extra={"PORTAL_AFTER_S": "3"}))
    flash_dir = tmp_path / "flash"
    flash_dir.mkdir()
    with gateway_rig(tmp_path) as (gateway, watch):
        node = EmulatedNode(exe, port=gateway.port, log=tmp_path / "blank.log",
                            flash_dir=flash_dir)
        node.drive(12, 1)
        node.start()
        try:
            first = Phone(console_address(node.log), node.server_port(80))
            wait_for(lambda: accepts(first.port), 60, "the set-up page")
            settings = {"name": "attic_node", "room": "attic", "wifi_ssid": "old_router",
                        "wifi_password": "s3cret&<", "gateway": f"127.0.0.1:{gateway.port}",
                        "pins": "12:contact:door:invert"}
            assert first.request("POST", "/", form=settings)[0] == 200
            assert node.wait_exit(60) == 0

            monkeypatch.setenv("NODE_WIFI", "down")
            node.log = tmp_path / "wifi-down.log"
            node.start()
            address = console_address(node.log)
            phone = Phone(address, node.server_port(80))
            wait_for(lambda: accepts(phone.port), 60, "the set-up page")
            status, _, page = phone.request("GET", "/")
            assert status == 200
            assert "It could not join its WiFi network old_router." in page
            for value in ('value="attic_node"', 'value="attic"', 'value="old_router"',
                          f'value="127.0.0.1:{gateway.port}"', ">12:contact:door:invert\n<"):
                assert value in page, value
            assert "s3cret" not in page and "Leave empty to keep the stored one." in page
            assert watch.last(STATUS) is None

            status, _, page = phone.request(
                "POST", "/", form={**settings, "wifi_ssid": "emulated", "wifi_password": ""})
            assert status == 200, page
            assert node.wait_exit(60) == 0
            stored = flash(flash_dir)
            assert b"wifi_ssid=emulated\nwifi_password=s3cret&<\n" in stored, stored[:200]

            monkeypatch.delenv("NODE_WIFI")
            node.start()
            wait_for(watch.shows(STATUS, b"online"), 60, "online on the new network")
            wait_for(watch.shows("home/attic/door", b"OFF"), what="inverted contact, as stored")
        finally:
            node.kill()
