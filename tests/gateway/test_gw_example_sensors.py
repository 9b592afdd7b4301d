"""`make run` with gateway/example.toml on a machine without a Pi: the 1-Wire, I2C, HC-SR04
and PWM sensors of the example all publish from simulated hardware, are announced to Home
Assistant, and the PWM strip follows a command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from gw_helpers import TIMEOUT, Recorder, free_port, publish_once, wait_listening
from test_gw_quickstart import ROOT, gateway_command

from gateway.hardware import is_raspberry_pi

#: state topic -> (lowest, highest) plausible simulated value
READINGS = {
    "home/kitchen/fridge": (5.0, 30.0),
    "home/kitchen/freezer": (5.0, 30.0),
    "home/office/temperature": (10.0, 30.0),
    "home/office/humidity": (20.0, 80.0),
    "home/office/pressure": (950.0, 1050.0),
    "home/office/light": (0.0, 1000.0),
    "home/office/soil_moisture": (-50.0, 150.0),
    "home/garden/tank": (30.0, 200.0),
}

DISCOVERY = [
    "homeassistant/sensor/gateway/kitchen_fridge/config",
    "homeassistant/sensor/gateway/office_pressure/config",
    "homeassistant/sensor/gateway/office_light/config",
    "homeassistant/sensor/gateway/office_soil_moisture/config",
    "homeassistant/sensor/gateway/garden_tank/config",
    "homeassistant/light/gateway/hall_strip/config",
]


@pytest.mark.skipif(is_raspberry_pi(), reason="would drive the real pins of this Pi")
def test_example_sensors_publish_from_simulated_hardware(tmp_path: Path) -> None:
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
            for topic, (low, high) in READINGS.items():
                value = float(rec.wait_for(topic).payload)
                assert low <= value <= high, (topic, value)
                rec.wait_for(f"{topic}/availability", "online")
            for topic in DISCOVERY:
                json.loads(rec.wait_for(topic).payload)
            rec.wait_for("home/hall/strip", "0")
            publish_once(port, "home/hall/strip/set", "40")
            rec.wait_for("home/hall/strip", "40")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    assert "Traceback" not in (tmp_path / "gateway.log").read_text()
