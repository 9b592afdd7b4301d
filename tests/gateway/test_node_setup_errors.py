"""What `gateway node setup` says when it cannot reach a node or cannot read an option: the
hint must fit the cause, and the help's examples must be settings a node takes."""

from __future__ import annotations

import errno
import re
from pathlib import Path

import pytest
import serial
from click.testing import CliRunner

from gateway.node_setup import SetupError, open_error, send_settings, settings_text, setup_command


def test_a_port_that_is_not_there_is_not_blamed_on_the_bridge(tmp_path: Path) -> None:
    # A node not plugged in (or on a charge-only cable) has no port at all: telling the user
    # to stop the gateway's bridge sends them the wrong way.
    missing = tmp_path / "ttyUSB0"
    with pytest.raises(SetupError) as caught:
        send_settings(str(missing), "name=n\nroom=r\n", timeout=1)
    message = str(caught.value)
    assert message.startswith(f"cannot open {missing}: no such serial port")
    assert "plugged in" in message
    assert "bridging" not in message


def test_a_port_the_user_may_not_open_names_the_way_in() -> None:
    # Root reads every port, so the refusal is built as pyserial raises it.
    refused = serial.SerialException(errno.EACCES, "could not open port /dev/ttyUSB0")
    message = open_error("/dev/ttyUSB0", refused)
    assert message == ("cannot open /dev/ttyUSB0: permission denied (run it as root, or join "
                       "the `dialout` group)")


def test_the_pin_examples_of_the_help_are_pins_a_node_takes() -> None:
    # A user copies the help's examples; the node refuses every GPIO but these.
    usable = {4, 5, 12, 13, 14}
    result = CliRunner().invoke(setup_command(), ["--help"], terminal_width=200)
    pin_help = result.output.split("--pin", 1)[1].split("--interval", 1)[0]
    examples = [int(gpio) for gpio in re.findall(r"(\d+)=[a-z]", pin_help)]
    assert len(examples) >= 5, pin_help
    assert set(examples) <= usable, pin_help


def test_a_pin_written_as_on_the_phone_page_is_answered_with_the_cables_form() -> None:
    # The set-up page takes 14:dht22; the cable takes 14=dht22 (README step 3b says so).
    with pytest.raises(SetupError) as caught:
        settings_text({"name": "n", "room": "r"}, ("5:relay:fan:low",))
    assert str(caught.value) == (
        "--pin '5:relay:fan:low': expected GPIO=kind[:name[:flags]], e.g. 14=dht22, "
        "12=contact:door or 5=relay:fan:low (did you mean 5=relay:fan:low?)")
    with pytest.raises(SetupError) as caught:
        settings_text({"name": "n", "room": "r"}, ("dht22",))
    assert "did you mean" not in str(caught.value)
