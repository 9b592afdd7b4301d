"""Config loading and validation: defaults, and errors that name file, line and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.config import ConfigErrors, load_config, parse_config, schema
from gateway.config.tomlpos import KeyLines, format_path
from gateway.drivers.base import driver_kinds, driver_spec

EXAMPLE = Path(__file__).resolve().parents[2] / "gateway" / "example.toml"


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigErrors) as info:
        parse_config(text, "test.toml")
    return [str(e) for e in info.value.errors]


def test_three_line_config_gives_a_working_dht22() -> None:
    config = parse_config('[[room."Living Room"]]\ndriver = "dht22"\npin = 4\n')
    (sensor,) = config.sensors
    assert (sensor.room, sensor.room_title, sensor.driver, sensor.pin) == \
        ("living_room", "Living Room", "dht22", 4)
    assert sensor.interval == 30.0
    assert sensor.options["retries"] == 3 and sensor.options["max_failures"] == 3
    assert config.gateway.status_topic == "home/gateway/status"
    assert config.broker == {"host": "0.0.0.0", "port": 1883}


def all_option_names() -> set[str]:
    keys = set(schema.GATEWAY) | set(schema.MQTT) | set(schema.SERIAL) | set(schema.NODES) | set(schema.FILTERS) | \
        set(schema.CHANNEL) | set(schema.SENSOR) | {"host", "port"}
    for kind in driver_kinds():
        spec = driver_spec(kind)
        assert spec is not None
        keys |= set(spec.options)
    return keys | set(driver_kinds())


def undocumented(text: str) -> list[str]:
    return [k for k in sorted(all_option_names()) if not re.search(rf"\b{k}\b", text)]


def test_example_config_is_valid_and_documents_every_option() -> None:
    config = load_config(EXAMPLE)
    assert {s.driver for s in config.sensors} >= {"dht22", "button", "motion", "contact",
                                                  "relay", "pi"}
    assert undocumented(EXAMPLE.read_text()) == []


def test_readme_config_reference_names_every_option() -> None:
    readme = (EXAMPLE.parents[1] / "README.md").read_text()
    section = readme.split("<!-- section: gateway -->")[1].split("<!-- section: wiring")[0]
    assert undocumented(section) == []


def test_unknown_key_names_file_line_and_key_with_a_suggestion() -> None:
    errors = errors_of('[gateway]\nname = "pi"\n\n[[room.kitchen]]\ndriver = "dht22"\n'
                       'pin = 4\nintervall = 10\n')
    assert errors == ["test.toml:7: room.kitchen[0].intervall: unknown key "
                      "(did you mean 'interval'?)"]


def test_wrong_types_are_reported_with_their_lines() -> None:
    errors = errors_of('[broker]\nport = "1883"\n[[room.hall]]\ndriver = "button"\n'
                       'pin = true\n')
    assert "test.toml:2: broker.port: must be an integer, not '1883'" in errors
    assert "test.toml:5: room.hall[0].pin: must be an integer, not True" in errors


def test_two_sensors_on_one_pin() -> None:
    errors = errors_of('[[room.hall]]\ndriver = "button"\npin = 17\n\n'
                       '[[room.kitchen]]\ndriver = "motion"\npin = 17\n')
    assert errors == ["test.toml:7: room.kitchen[0].pin: GPIO 17 is already used by "
                      "room.hall[0] (line 1)"]


def test_a_pin_that_does_not_exist() -> None:
    (error,) = errors_of('[[room.hall]]\ndriver = "relay"\npin = 40\n')
    assert error.startswith("test.toml:3: room.hall[0].pin: GPIO 40 does not exist")


def test_topic_collision_after_name_normalization() -> None:
    errors = errors_of('[[room.hall]]\ndriver = "button"\npin = 17\nname = "Door Bell"\n\n'
                       '[[room.hall]]\ndriver = "contact"\npin = 18\nname = "door-bell"\n')
    assert errors == ["test.toml:6: room.hall[1]: topic home/hall/door_bell is also used "
                      "by room.hall[0]; give one of them a different name"]


def test_two_dhts_in_one_room_need_names() -> None:
    text = '[[room.hall]]\ndriver = "dht22"\npin = 4\n[[room.hall]]\ndriver = "dht11"\npin = 5\n'
    assert any("home/hall/temperature is also used" in e for e in errors_of(text))
    fixed = text.replace('pin = 5\n', 'pin = 5\nname = "outside"\n')
    topics = {s.name for s in parse_config(fixed).sensors}
    assert topics == {None, "outside"}


def test_unknown_driver_missing_pin_and_bad_choice() -> None:
    errors = errors_of('[[room.a]]\ndriver = "dht23"\npin = 4\n'
                       '[[room.b]]\ndriver = "relay"\nboot_state = "maybe"\n')
    assert errors[0].startswith("test.toml:2: room.a[0].driver: unknown driver 'dht23'; "
                                "did you mean 'dht22'?")
    assert "test.toml:4: room.b[0]: missing key 'pin' (the GPIO number relay is wired to)" \
        in errors
    assert "test.toml:6: room.b[0].boot_state: must be one of 'off', 'on', 'restore', " \
        "not 'maybe'" in errors


def test_a_pin_of_the_wrong_type_is_one_error_not_also_a_missing_key(tmp_path: Path) -> None:
    """`gateway check` names the bad value only: the key is there, so it is not 'missing'."""
    path = tmp_path / "five.toml"
    path.write_text('[[room.kitchen]]\ndriver = "dht22"\npin = "five"\n')
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{path}:3: room.kitchen[0].pin: must be an integer, not 'five'", f"1 error in {path}"]


def test_filters_are_checked() -> None:
    errors = errors_of('[[room.a]]\ndriver = "dht22"\npin = 4\n'
                       'filters = { median = 0, smooth = 3 }\n'
                       '[[room.b]]\ndriver = "button"\npin = 5\nfilters = { delta = 1 }\n')
    assert "test.toml:4: room.a[0].filters.median: must be at least 1, not 0" in errors
    assert "test.toml:4: room.a[0].filters.smooth: unknown key" in errors
    assert any(e.startswith("test.toml:8: room.b[0].filters.delta: button publishes ON/OFF")
               for e in errors)


def test_dht_interval_below_two_seconds_is_rejected() -> None:
    (error,) = errors_of('[[room.a]]\ndriver = "dht22"\npin = 4\ninterval = 1\n')
    assert error == "test.toml:4: room.a[0].interval: must be at least 2 s for this sensor"


def test_invalid_toml_names_the_line() -> None:
    (error,) = errors_of('[gateway]\nname = "x"\nbroken = \n')
    assert error.startswith("test.toml:3: not valid TOML")


def test_channel_tables_merge_filters() -> None:
    config = parse_config('[[room.a]]\ndriver = "dht22"\npin = 4\nfilters = { median = 5 }\n'
                          '[room.a.temperature]\nfilters = { offset = -1 }\nunit = "°C"\n')
    sensor = config.sensors[0]
    merged = sensor.filters.merged(sensor.channels["temperature"].filters)
    assert (merged.median, merged.offset) == (5, -1.0)


def test_check_reports_all_errors_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[gatway]\n[[room.hall]]\ndriver = "button"\npin = 99\n'
                    '[[room.hall]]\ndriver = "relay"\npin = 99\n')
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert f"{path}:1: gatway: unknown key (did you mean 'gateway'?)" in lines
    assert any(line.startswith(f"{path}:4: room.hall[0].pin: GPIO 99") for line in lines)
    assert any(line.startswith(f"{path}:7: room.hall[1].pin: GPIO 99") for line in lines)
    assert lines[-1] == f"4 errors in {path}"


def test_check_accepts_the_example() -> None:
    result = CliRunner().invoke(main, ["check", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output


def test_key_lines_follow_arrays_of_tables_and_inline_tables() -> None:
    text = ('[gateway]\nname = "x"\n\n[[room.a]]\ndriver = "dht22"\n[room.a.humidity]\n'
            'filters = { delta = 1 }\n[[room.a]]\npin = 5\n["room"."b c"]\n')
    lines = KeyLines(text)
    assert lines.line(("gateway", "name")) == 2
    assert lines.line(("room", "a", 0, "driver")) == 5
    assert lines.line(("room", "a", 0, "humidity")) == 6
    assert lines.line(("room", "a", 0, "humidity", "filters", "delta")) == 7
    assert lines.line(("room", "a", 1, "pin")) == 9
    assert lines.line(("room", "b c")) == 10
    assert lines.line(("room", "a", 1, "missing")) == 8
    assert format_path(("room", "b c", 0, "pin")) == 'room."b c"[0].pin'


def test_key_lines_ignore_comments_but_not_hashes_in_strings() -> None:
    lines = KeyLines('# old: { name = "x" }\n[gateway]\nname = "a # b"  # note = 1\n')
    assert lines.line(("name",)) is None
    assert lines.line(("note",)) is None
    assert lines.line(("gateway", "name")) == 3


def test_broker_listeners_are_checked_with_their_lines() -> None:
    errors = errors_of('[broker]\n[[broker.listeners]]\nkind = "ws"\nhots = "0.0.0.0"\n'
                       '[[broker.listeners]]\nkind = "tcp"\nport = "x"\n'
                       '[[broker.listeners]]\nkind = "wss"\n')
    assert errors == [
        "test.toml:4: broker.listeners[0].hots: unknown key (did you mean 'host'?)",
        "test.toml:7: broker.listeners[1].port: must be int, not 'x'",
        "test.toml:8: broker.listeners[2]: listener wss:9443: wss needs certfile and keyfile",
    ]
    config = parse_config('[[broker.listeners]]\nkind = "ws"\nport = 9001\n', "ok.toml")
    assert config.broker["listeners"] == [{"kind": "ws", "port": 9001}]


def test_serial_table() -> None:
    config = parse_config('[serial]\nports = ["/dev/ttyUSB0"]\nexclude = ["/dev/ttyACM0"]\n'
                          'baudrate = 57600\n', "s.toml")
    assert config.serial.ports == ("/dev/ttyUSB0",)
    assert config.serial.exclude == ("/dev/ttyACM0",)
    assert config.serial.baudrate == 57600 and config.serial.autodetect is None
    assert errors_of('[serial]\nports = [1]\nbaud = 9600\n') == [
        "test.toml:2: serial.ports: must be a list of paths",
        "test.toml:3: serial.baud: unknown key (did you mean 'baudrate'?)",
    ]
