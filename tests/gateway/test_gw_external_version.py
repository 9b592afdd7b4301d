"""The gateway's connection to an external broker: MQTT 5.0 where the broker has it, 3.1.1
by itself where it does not (aedes from npm answers CONNACK 0x01), and the log says which."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory
from gw_helpers import Recorder, RunningGateway, ScriptedDht
from support.processes import ServerProcess

from gateway.hardware import Hardware

CONFIG = '[[room.kitchen]]\ndriver = "dht22"\npin = 4\ninterval = 2\nretry_delay = 0\n'


def readings_arrive(port: int, tmp_path: Path) -> None:
    hardware = Hardware(simulated=True, pin_factory=MockFactory(),
                        dht_factory=lambda kind, pin: ScriptedDht([(21.5, 44.0)]))
    with RunningGateway(CONFIG, tmp_path, hardware, broker_url=f"mqtt://127.0.0.1:{port}"):
        with Recorder(port, "#") as rec:
            rec.wait_for("home/gateway/status", "online")
            rec.wait_for("home/kitchen/temperature", "21.5")


def test_falls_back_to_311_when_mqtt5_is_refused(tmp_path: Path, aedes: int,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="gateway.bus.paho"):
        readings_arrive(aedes, tmp_path)
    assert "refused MQTT 5.0" in caplog.text and "using MQTT 3.1.1" in caplog.text
    assert f"connected to mqtt://127.0.0.1:{aedes} (MQTT 3.1.1)" in caplog.text


def test_mqtt5_where_the_broker_has_it(tmp_path: Path, broker: ServerProcess,
                                       caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="gateway.bus.paho"):
        readings_arrive(broker.port, tmp_path)
    assert "(MQTT 5.0)" in caplog.text and "3.1.1" not in caplog.text
