"""The quick-start command, `gateway run --config gateway/example.toml`, as a user runs it
(plus a free port, loopback only, and a scratch data directory), checked with paho."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from gw_helpers import (
    ROOT,
    TIMEOUT,
    Recorder,
    free_port,
    gateway_command,
    publish_once,
    wait_listening,
)

from gateway.hardware import is_raspberry_pi

#: state topic -> (lowest, highest) plausible value of the example's simulated sensors
SIMULATED_READINGS = {
    "home/kitchen/fridge": (5.0, 30.0),
    "home/kitchen/freezer": (5.0, 30.0),
    "home/office/temperature": (10.0, 30.0),
    "home/office/humidity": (20.0, 80.0),
    "home/office/pressure": (950.0, 1050.0),
    "home/office/light": (0.0, 1000.0),
    "home/office/soil_moisture": (-50.0, 150.0),
    "home/garden/tank": (30.0, 200.0),
}


@pytest.mark.skipif(is_raspberry_pi(), reason="would drive the real pins of this Pi")
def test_quick_start_runs_with_simulated_hardware(tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    log = (tmp_path / "gateway.log").open("wb")
    proc = subprocess.Popen(
        [*gateway_command(), "run", "--config", "gateway/example.toml", "--port", str(port),
         "--host", "127.0.0.1", "--data-dir", str(tmp_path / "state")],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_listening(port)
        with Recorder(port, "#") as rec:
            rec.wait_for("home/gateway/status", "online", retained=True)
            temperature = float(rec.wait_for("home/living_room/temperature").payload)
            humidity = float(rec.wait_for("home/living_room/humidity").payload)
            assert 10.0 < temperature < 30.0 and 20.0 < humidity < 80.0
            rec.wait_for("home/living_room/temperature/availability", "online")
            rec.wait_for("home/hall/doorbell", "OFF")
            rec.wait_for("home/hall/light", "OFF")
            config = json.loads(rec.wait_for(
                "homeassistant/sensor/gateway/living_room_temperature/config").payload)
            assert config["state_topic"] == "home/living_room/temperature"
            rec.wait_for("homeassistant/switch/gateway/hall_light/config")
            # the 1-Wire, I2C, HC-SR04 and PWM drivers, on simulated buses and pins
            for topic, (low, high) in SIMULATED_READINGS.items():
                value = float(rec.wait_for(topic).payload)
                assert low <= value <= high, (topic, value)
                rec.wait_for(f"{topic}/availability", "online")
            rec.wait_for("homeassistant/sensor/gateway/office_pressure/config")
            rec.wait_for("homeassistant/light/gateway/hall_strip/config")
            publish_once(port, "home/hall/strip/set", "40")
            rec.wait_for("home/hall/strip", "40")

            publish_once(port, "home/hall/light/set", "ON")
            rec.wait_for("home/hall/light", "ON")
            # systemctl reload: security files re-read, the gateway and its clients carry on.
            proc.send_signal(signal.SIGHUP)
            publish_once(port, "home/hall/light/set", "OFF")
            rec.wait_for("home/hall/light", "OFF")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    output = (tmp_path / "gateway.log").read_text()
    assert "simulated" in output
    assert "Traceback" not in output
    assert "security files reloaded" in output
    # discovery was recorded, so a later run can remove what leaves the config
    record = json.loads((tmp_path / "state" / "discovery.json").read_text())
    assert "homeassistant/switch/gateway/hall_light/config" in record["topics"]
