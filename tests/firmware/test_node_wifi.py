"""The node sketch, built with the ESP8266 core's host emulation and the real PubSubClient
2.8, on "WiFi" (host TCP) against `gateway run`: status, readings, inputs, the will on a
power cut, and reconnecting after the gateway restarts."""

from __future__ import annotations

from pathlib import Path

import pytest
from emunode import (
    BUTTON_PIN,
    DHT_PIN,
    DOOR_PIN,
    LAMP_PIN,
    RELAY_PIN,
    NodeConfig,
    build_node,
    wait_for,
    wifi_rig,
)
from support.mqtt_watch import Watcher

STATUS = "home/kitchen/kitchen_node/status"


@pytest.fixture(scope="module")
def wifi_node() -> Path:
    return build_node(NodeConfig())


def seen(watch: Watcher, topic: str, payload: bytes, times: int = 1):
    return lambda: watch.count(topic, payload) >= times


def test_node_on_wifi_publishes_and_survives_power_cuts_and_gateway_restarts(
        wifi_node: Path, tmp_path: Path) -> None:
    with wifi_rig(wifi_node, tmp_path) as (gateway, watch, node):
        node.dht(DHT_PIN, 21.4, 48.0)
        node.drive(DOOR_PIN, 0)                  # door closed: the reed switch pulls low
        node.start()
        wait_for(seen(watch, STATUS, b"online"), what="online")
        wait_for(seen(watch, "home/kitchen/temperature", b"21.4"), what="temperature")
        wait_for(seen(watch, "home/kitchen/humidity", b"48.0"), what="humidity")
        wait_for(seen(watch, "home/kitchen/door", b"OFF"), what="door closed")
        wait_for(seen(watch, "home/kitchen/button", b"OFF"), what="button released")

        # Several inputs, each on its own topic; the DHT on its interval.
        node.drive(DOOR_PIN, 1)
        wait_for(seen(watch, "home/kitchen/door", b"ON"), what="door open")
        node.drive(BUTTON_PIN, 0)
        wait_for(seen(watch, "home/kitchen/button", b"ON"), what="button pressed")
        node.dht(DHT_PIN, 22.5, 51.0)
        wait_for(seen(watch, "home/kitchen/temperature", b"22.5"), what="next reading")
        node.dht(DHT_PIN, 150.0, 51.0)           # implausible: dropped, not published
        node.dht(DHT_PIN, 22.7, 51.0)
        wait_for(seen(watch, "home/kitchen/temperature", b"22.7"), what="plausible reading")
        assert b"150.0" not in watch.payloads("home/kitchen/temperature")

        # Power cut: the broker publishes the node's will.
        node.kill()
        wait_for(seen(watch, STATUS, b"offline"), what="the will")
        node.start()
        wait_for(seen(watch, STATUS, b"online", 2), what="online after reboot")
        wait_for(seen(watch, "home/kitchen/door", b"ON", 2), what="inputs after reboot")

        # The gateway restarts (its broker with it): the node finds it again by itself.
        online = watch.count(STATUS, b"online")
        gateway.stop()
        gateway.start()
        wait_for(seen(watch, STATUS, b"online", online + 1), timeout=90,
                 what="online after the gateway restarted")
        assert node.alive()


def test_node_outputs_switch_like_the_gateways_relays(wifi_node: Path, tmp_path: Path) -> None:
    relay, lamp = "home/kitchen/relay", "home/kitchen/lamp"
    with wifi_rig(wifi_node, tmp_path) as (gateway, watch, node):
        node.start()
        wait_for(watch.shows(relay, b"OFF"), what="relay's boot state")
        # Active low and off at boot: the pin is high from the first moment, never a click.
        # (Pin events come over the bench socket, MQTT over the broker: either may be first.)
        wait_for(lambda: node.level(RELAY_PIN) == 1, what="relay pin high")
        assert node.pin_history(RELAY_PIN)[0] == 1
        # BOOT_RESTORE with nothing to restore: off once the wait is over.
        wait_for(watch.shows(lamp, b"OFF"), what="lamp without a state to restore")
        wait_for(lambda: node.level(LAMP_PIN) == 0, what="lamp pin low")

        steps = [(b"ON", 0, b"ON"), (b"off", 1, b"OFF"), (b"1", 0, b"ON"), (b"0", 1, b"OFF"),
                 (b"true", 0, b"ON"), (b"FALSE", 1, b"OFF"), (b"TOGGLE", 0, b"ON"),
                 (b"toggle", 1, b"OFF")]
        for payload, level, state in steps:
            before = len(watch.payloads(relay))
            watch.publish(relay + "/set", payload)
            wait_for(lambda n=before: len(watch.payloads(relay)) > n, what=f"echo of {payload!r}")
            assert watch.last(relay) == state, payload
            wait_for(lambda v=level: node.level(RELAY_PIN) == v, what=f"pin after {payload!r}")
        # Not a command: the real state is echoed, nothing switches.
        before = len(watch.payloads(relay))
        watch.publish(relay + "/set", b"maybe")
        wait_for(lambda: len(watch.payloads(relay)) > before, what="echo of a bad command")
        assert watch.last(relay) == b"OFF" and node.level(RELAY_PIN) == 1

        # The echo is retained: a client that connects later sees the confirmed states.
        watch.publish(relay + "/set", b"ON")
        watch.publish(lamp + "/set", b"ON")
        wait_for(lambda: node.level(LAMP_PIN) == 1 and node.level(RELAY_PIN) == 0,
                 what="both on")
        wait_for(watch.shows(lamp, b"ON"), what="lamp on")
        late = Watcher(gateway.port, (relay, lamp), client_id="late")
        try:
            wait_for(lambda: late.last(relay) == b"ON" and late.last(lamp) == b"ON",
                     what="retained states")
            assert all(retain for _, _, retain in late.messages)
        finally:
            late.close()

        # Power cut and reboot: the relay comes back in its boot state (off), the lamp
        # (BOOT_RESTORE) takes its last state back from the gateway.
        node.kill()
        node.start()
        wait_for(lambda: node.level(LAMP_PIN) == 1, what="lamp restored")
        wait_for(watch.shows(relay, b"OFF"), what="relay off after reboot")
        wait_for(lambda: node.level(RELAY_PIN) == 1, what="relay pin off after reboot")
        wait_for(watch.shows(lamp, b"ON"), what="lamp state confirmed")

        # The gateway restarts: the node's states are published again on reconnect, and
        # commands work again.
        lamp_on = watch.count(lamp, b"ON")
        gateway.stop()
        gateway.start()
        wait_for(lambda: watch.count(lamp, b"ON") > lamp_on, timeout=90,
                 what="states again after the gateway restarted")
        watch.publish(lamp + "/set", b"OFF")
        wait_for(lambda: node.level(LAMP_PIN) == 0, what="command after reconnect")


def test_battery_node_publishes_once_then_sleeps_without_its_will(tmp_path: Path) -> None:
    exe = build_node(NodeConfig(node_id="battery_node", outputs=(), sleep=600))
    status = "home/kitchen/battery_node/status"
    with wifi_rig(exe, tmp_path) as (gateway, watch, node):
        node.dht(DHT_PIN, 18.5, 55.0)
        node.start()
        assert node.wait_exit() == 0
        # The event socket's reader thread may still be catching up with the exited node.
        wait_for(lambda: "deep-sleep 600000000" in node.events, what="deep-sleep event")
        wait_for(watch.shows("home/kitchen/temperature", b"18.5"), what="reading")
        wait_for(lambda: watch.last("home/kitchen/door") is not None, what="door")
        # A clean DISCONNECT before sleeping: the node stays "online", no will. (The
        # broker handled the node's connection before this marker's round trip ends.)
        watch.publish("home/test/marker", b"1")
        wait_for(watch.shows("home/test/marker", b"1"), what="marker")
        assert watch.payloads(status) == [b"online"]
        assert watch.payloads("home/kitchen/temperature") == [b"18.5"]
