"""The drivers against an external broker through paho-mqtt: state re-published after a
broker restart (Debian's mosquitto and our broker run alone), the last will, restore at
boot, retained commands ignored."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from gpiozero.pins.mock import MockFactory
from gw_helpers import (
    TIMEOUT,
    Recorder,
    RunningGateway,
    ScriptedDht,
    publish_once,
)
from support.processes import Mosquitto, ServerProcess

from gateway.hardware import Hardware

ROOT = Path(__file__).resolve().parents[2]

CONFIG = '''
[[room.kitchen]]
driver = "dht22"
pin = 4
interval = 2
retry_delay = 0

[[room.hall]]
driver = "relay"
name = "light"
pin = 23
boot_state = "{boot}"
'''


def hardware(factory: MockFactory) -> Hardware:
    return Hardware(simulated=True, pin_factory=factory,
                    dht_factory=lambda kind, pin: ScriptedDht([(21.5, 44.0)]))


def test_gateway_republishes_state_after_a_broker_restart(
        tmp_path: Path, pin_factory: MockFactory, broker: ServerProcess) -> None:
    url = f"mqtt://127.0.0.1:{broker.port}"
    with RunningGateway(CONFIG.format(boot="off"), tmp_path, hardware(pin_factory),
                        broker_url=url):
        with Recorder(broker.port, "#") as rec:
            rec.wait_for("home/gateway/status", "online", retained=True)
            rec.wait_for("home/kitchen/temperature", "21.5")
            publish_once(broker.port, "home/hall/light/set", "ON")
            rec.wait_for("home/hall/light", "ON")

        broker.stop()                 # no persistence: every retained message is gone
        broker.start()
        with Recorder(broker.port, "#") as after:
            after.wait_for("home/gateway/status", "online", timeout=TIMEOUT * 2)
            after.wait_for("home/hall/light", "ON")
            after.wait_for("home/kitchen/humidity/availability", "online")
            after.wait_for("homeassistant/switch/gateway/hall_light/config")
            after.wait_for("home/kitchen/temperature", "21.5")
        # and a late subscriber finds them retained
        with Recorder(broker.port, "home/hall/light") as late:
            late.wait_for("home/hall/light", "ON", retained=True)


def test_restore_boot_state_and_retained_commands_ignored(
        tmp_path: Path, pin_factory: MockFactory, mosquitto: Mosquitto) -> None:
    url = f"mqtt://127.0.0.1:{mosquitto.port}"
    # someone left a retained command behind: it must not switch the relay at boot
    publish_once(mosquitto.port, "home/hall/light/set", "ON", retain=True)
    with RunningGateway(CONFIG.format(boot="off"), tmp_path, hardware(pin_factory),
                        broker_url=url):
        with Recorder(mosquitto.port, "home/hall/#") as rec:
            rec.wait_for("home/hall/light", "OFF", retained=True)
            assert pin_factory.pin(23).state is False
            publish_once(mosquitto.port, "home/hall/light/set", "ON")
            rec.wait_for("home/hall/light", "ON")
        with Recorder(mosquitto.port, "home/hall/light/set") as commands:
            # the stale retained command was cleared from the broker
            assert commands.find("home/hall/light/set", retained=True) is None
    pin_factory.reset()
    with RunningGateway(CONFIG.format(boot="restore"), tmp_path, hardware(pin_factory),
                        broker_url=url):
        with Recorder(mosquitto.port, "home/hall/light") as rec:
            rec.wait_for("home/hall/light", "ON", retained=True)
            assert pin_factory.pin(23).state is True


@contextlib.contextmanager
def gateway_process(*args: str) -> Iterator[subprocess.Popen[bytes]]:
    """`gateway run ARGS` as a subprocess; killed on the way out if still running."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "run", "--hardware",
                             "simulated", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_last_will_and_clean_stop_set_the_status(tmp_path: Path, mosquitto: Mosquitto) -> None:
    config = tmp_path / "gw.toml"
    config.write_text(CONFIG.format(boot="off"))
    args = ("--config", str(config), "--broker", f"mqtt://127.0.0.1:{mosquitto.port}",
            "--data-dir", str(tmp_path))
    with Recorder(mosquitto.port, "home/gateway/status") as rec:
        with gateway_process(*args) as proc:
            rec.wait_for("home/gateway/status", "online")
            rec.clear()
            proc.kill()                  # no goodbye: the broker publishes the will
            proc.wait(TIMEOUT)
            rec.wait_for("home/gateway/status", "offline")
        rec.clear()
        with gateway_process(*args) as proc:
            rec.wait_for("home/gateway/status", "online")
            rec.clear()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(TIMEOUT) == 0
            rec.wait_for("home/gateway/status", "offline")
