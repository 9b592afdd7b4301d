"""GPIO through gpiozero's MockFactory, end to end: a pin driven here arrives at a paho
subscriber on the embedded broker; a paho client's command switches a pin."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from gpiozero.pins.mock import MockFactory
from gw_helpers import TIMEOUT, Recorder, RunningGateway, publish_once

from gateway.hardware import Hardware

INPUTS = '''
[[room.hall]]
driver = "button"
name = "doorbell"
pin = 17
debounce = 0

[[room.hall]]
driver = "motion"
pin = 27
debounce = 0.3

[[room.hall]]
driver = "contact"
name = "front door"
pin = 22
debounce = 0
'''

RELAYS = '''
[[room.hall]]
driver = "relay"
name = "light"
pin = 23

[[room.garage]]
driver = "relay"
pin = 24
active = "low"
boot_state = "on"
'''


def hardware(factory: MockFactory) -> Hardware:
    return Hardware(simulated=True, pin_factory=factory)


def wait_until(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_button_pressed_reaches_a_paho_subscriber(tmp_path: Path, pin_factory: MockFactory) -> None:
    with RunningGateway(INPUTS, tmp_path, hardware(pin_factory)) as gw:
        with Recorder(gw.port, "home/#") as rec:
            rec.wait_for("home/hall/doorbell", "OFF", retained=True)
            pin = pin_factory.pin(17)
            pin.drive_low()                        # pressed: pulled-up button to ground
            rec.wait_for("home/hall/doorbell", "ON")
            rec.clear()
            pin.drive_high()
            rec.wait_for("home/hall/doorbell", "OFF")
        with Recorder(gw.port, "home/hall/doorbell") as late:
            late.wait_for("home/hall/doorbell", "OFF", retained=True)


def test_contact_open_is_on_and_motion_is_debounced(
        tmp_path: Path, pin_factory: MockFactory) -> None:
    with RunningGateway(INPUTS, tmp_path, hardware(pin_factory)) as gw:
        with Recorder(gw.port, "home/hall/#") as rec:
            # Nothing pulls the line low: the reed switch is open, so is the door.
            rec.wait_for("home/hall/front_door", "ON", retained=True)
            rec.wait_for("home/hall/motion", "OFF", retained=True)
            pin_factory.pin(22).drive_low()        # magnet near: switch closed, door shut
            rec.wait_for("home/hall/front_door", "OFF")

            motion = pin_factory.pin(27)
            for _ in range(5):                     # a bouncing line, settling high
                motion.drive_high()
                motion.drive_low()
            motion.drive_high()
            rec.wait_for("home/hall/motion", "ON")
            time.sleep(0.6)                        # twice the debounce: nothing else comes
            values = [m.payload for m in rec.messages if m.topic == "home/hall/motion"]
            assert values == [b"OFF", b"ON"]


def test_relay_switched_from_a_paho_client(tmp_path: Path, pin_factory: MockFactory) -> None:
    with RunningGateway(RELAYS, tmp_path, hardware(pin_factory)) as gw:
        with Recorder(gw.port, "home/#") as rec:
            rec.wait_for("home/hall/light", "OFF", retained=True)    # boot state: off
            # boot_state = "on" with an active-low board: pin low, state ON
            rec.wait_for("home/garage/relay", "ON", retained=True)
            assert pin_factory.pin(24).state is False
            pin = pin_factory.pin(23)
            assert pin.state is False
            publish_once(gw.port, "home/hall/light/set", "ON")
            rec.wait_for("home/hall/light", "ON")
            wait_until(lambda: pin.state is True)
            for command, state in (("0", "OFF"), ("true", "ON"), ("off", "OFF"),
                                   ("TOGGLE", "ON")):
                rec.clear()
                publish_once(gw.port, "home/hall/light/set", command)
                rec.wait_for("home/hall/light", state)
            rec.clear()
            publish_once(gw.port, "home/hall/light/set", "dim please")
            rec.wait_for("home/hall/light", "ON")                    # echoed, unchanged
            assert pin.state is True
        with Recorder(gw.port, "home/hall/light") as check:
            check.wait_for("home/hall/light", "ON", retained=True)


def test_relay_restores_its_state_from_the_embedded_brokers_store(
        tmp_path: Path, pin_factory: MockFactory) -> None:
    text = (f'[broker]\ndata_dir = "{tmp_path / "broker"}"\n'
            '[[room.hall]]\ndriver = "relay"\nname = "light"\npin = 23\n'
            'boot_state = "restore"\n')
    with RunningGateway(text, tmp_path, hardware(pin_factory)) as gw:
        with Recorder(gw.port, "home/hall/light") as rec:
            rec.wait_for("home/hall/light", "OFF", retained=True)   # nothing to restore yet
            publish_once(gw.port, "home/hall/light/set", "ON")
            rec.wait_for("home/hall/light", "ON")
    pin_factory.reset()
    with RunningGateway(text, tmp_path, hardware(pin_factory)) as gw:
        with Recorder(gw.port, "home/hall/light") as rec:
            rec.wait_for("home/hall/light", "ON", retained=True)
        assert pin_factory.pin(23).state is True
