"""SIGHUP (`systemctl reload`) re-reads gateway.toml: sensors, filters and intervals change
without a restart, untouched sensors keep running (a relay keeps its state), a broken
edit is refused as `file:line: key: problem` and the running config stays."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory
from gw_helpers import (
    TIMEOUT,
    EngineBus,
    GatewayProcess,
    Recorder,
    free_port,
    publish_once,
    wait_listening,
)

from gateway.config import parse_config
from gateway.hardware import Hardware, is_raspberry_pi
from gateway.runtime.app import Gateway

pytestmark = pytest.mark.skipif(is_raspberry_pi(), reason="would drive the real pins of this Pi")

TEMPERATURE = "home/kitchen/temperature"
RELAY = "home/hall/relay"


def _config(port: int, interval: str = "2", kitchen: str = "", extra: str = "",
            broker: str = "") -> str:
    return (f'[broker]\nhost = "127.0.0.1"\nport = {port}\n{broker}\n'
            f'[[room.kitchen]]\ndriver = "dht22"\npin = 4\ninterval = {interval}\n{kitchen}\n'
            f'[[room.hall]]\ndriver = "relay"\npin = 17\n{extra}')


def _wait_value(rec: Recorder, topic: str, accept: float, timeout: float = TIMEOUT) -> None:
    """Wait for a value of ``topic`` above ``accept`` published after now."""
    rec.clear()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(m.topic == topic and float(m.payload) > accept for m in list(rec.messages)):
            return
        time.sleep(0.05)
    raise AssertionError(f"no {topic} above {accept}: {[m.payload for m in rec.messages]}")


def test_sighup_applies_sensor_edits_and_refuses_broken_ones(tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / "gateway.toml"
    path.write_text(_config(port))
    gateway = GatewayProcess(["--config", str(path), "--data-dir", str(tmp_path / "state"),
                              "--hardware", "simulated"], tmp_path / "gateway.log")
    with gateway:
        wait_listening(port)
        with Recorder(port, "#") as rec:
            rec.wait_for(TEMPERATURE)
            publish_once(port, f"{RELAY}/set", "ON")
            rec.wait_for(RELAY, "ON")

            # A good edit: a filter on the DHT, a new button; the relay is untouched.
            path.write_text(_config(port, kitchen="filters = { offset = 100 }",
                                    extra='\n[[room.hall]]\ndriver = "button"\npin = 27\n'))
            rec.clear()
            gateway.signal(signal.SIGHUP)
            gateway.wait_output("reloaded: 1 sensors unchanged, 1 stopped, 2 started")
            rec.wait_for("home/hall/button", "OFF")
            rec.wait_for("homeassistant/binary_sensor/gateway/hall_button/config")
            _wait_value(rec, TEMPERATURE, 100)
            assert rec.find(RELAY) is None  # not switched off and on again

            # A broken edit: refused with file, line and key; the filter stays in force.
            path.write_text(_config(port, interval="nan", kitchen="filters = { offset = 100 }"))
            gateway.signal(signal.SIGHUP)
            gateway.wait_output("not reloaded")
            assert f"{path}:8: room.kitchen[0].interval: must be a finite number, not nan" \
                in gateway.output()
            _wait_value(rec, TEMPERATURE, 100)

            # A key that needs a restart: said so; the sensors' part is applied.
            path.write_text(_config(port, broker="sys_interval = 5"))
            gateway.signal(signal.SIGHUP)
            gateway.wait_output("broker.sys_interval changed: takes effect at the next restart")
            gateway.wait_output("reloaded: 1 sensors unchanged, 2 stopped, 1 started")
            _wait_value(rec, TEMPERATURE, -100)
            _wait_value(rec, TEMPERATURE, -100)  # the first may have been on its way before
            assert all(float(m.payload) < 100 for m in rec.messages if m.topic == TEMPERATURE)
            publish_once(port, f"{RELAY}/set", "OFF")  # commands still obeyed
            rec.wait_for(RELAY, "OFF")
        assert gateway.stop() == 0
    assert "Traceback" not in gateway.output()


LIGHT = '[[room.hall]]\ndriver = "relay"\nname = "light"\npin = 23\n'
GARAGE = '[[room.garage]]\ndriver = "relay"\npin = {pin}\nboot_state = "on"\n'
DISCOVERY_GARAGE = "homeassistant/switch/gateway/garage_relay/config"


def test_reload_moves_a_relay_frees_its_pin_and_keeps_the_other(
        tmp_path: Path, pin_factory: MockFactory) -> None:
    async def scenario() -> None:
        bus = EngineBus()
        gateway = Gateway(parse_config(LIGHT + GARAGE.format(pin=24)), bus,
                          Hardware(simulated=True, pin_factory=pin_factory), tmp_path)
        await bus.start()
        await gateway.start()
        bus.inject("home/hall/light/set", b"ON")
        assert pin_factory.pin(23).state and pin_factory.pin(24).state
        assert DISCOVERY_GARAGE in bus.retained

        moved = parse_config(LIGHT + GARAGE.format(pin=25)).sensors
        assert await gateway.reload(moved) == (1, 1, 1)
        assert pin_factory.pin(23).state  # the light was left alone: still on
        assert pin_factory.pin(25).state  # boot_state "on" on the new pin
        bus.inject("home/garage/relay/set", b"OFF")  # the new pin takes commands
        assert not pin_factory.pin(25).state
        assert len(gateway.outputs) == 2 and len(gateway.publishers) == 2

        # The freed pin can be used at once; a removed sensor leaves Home Assistant.
        button = LIGHT + '[[room.hall]]\ndriver = "button"\npin = 24\n'
        assert await gateway.reload(parse_config(button).sensors) == (1, 1, 1)
        assert bus.values("home/hall/button") == ["OFF"]
        assert DISCOVERY_GARAGE not in bus.retained
        assert "garage" not in (tmp_path / "discovery.json").read_text()
        await gateway.stop()

    asyncio.run(scenario())
