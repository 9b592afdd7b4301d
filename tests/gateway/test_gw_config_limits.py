"""Every value `gateway run` would refuse or misuse is refused by the loader first, as
`file:line: key: problem`; and no input at all makes the loader raise anything else
(a hypothesis property over generated documents, text and bytes)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker import BrokerConfig
from broker.server.listeners import ListenerConfig, listener_policy
from gateway.cli import main
from gateway.config import Config, ConfigErrors, load_config, parse_config, schema
from gateway.drivers.base import driver_kinds, driver_spec

DHT = '[[room.a]]\ndriver = "dht22"\npin = 4\n'
ERROR_LINE = re.compile(r"^\S+:\d+: [\w.\[\]\"-]+: .+$")


@pytest.mark.parametrize(("text", "line", "key", "problem"), [
    (DHT + "interval = nan\n", 4, "room.a[0].interval", "finite"),
    (DHT + "interval = inf\n", 4, "room.a[0].interval", "finite"),
    (DHT + "interval = 1e300\n", 4, "room.a[0].interval", "at most 86400"),
    (DHT + "filters = { multiply = nan }\n", 4, "room.a[0].filters.multiply", "finite"),
    (DHT + "filters = { heartbeat = inf }\n", 4, "room.a[0].filters.heartbeat", "finite"),
    (DHT + "filters = { throttle = 1e300 }\n", 4, "room.a[0].filters.throttle", "at most"),
    (DHT + "retry_delay = 1e300\n", 4, "room.a[0].retry_delay", "at most 3600"),
    ('[[room.a]]\ndriver = "hcsr04"\npin = 5\necho = 6\necho_timeout = 1e300\n', 5,
     "room.a[0].echo_timeout", "at most 3600"),
    ('[broker]\npersistence = "bogus"\n', 2, "broker.persistence", "'full', 'low-wear'"),
    ('[mqtt]\nurl = "http://broker.lan"\n', 2, "mqtt.url", "mqtt://"),
    ("[broker]\nmax_packet_size = -1\n", 2, "broker.max_packet_size", "at least 64"),
    ("[broker]\nreceive_maximum = 0\n", 2, "broker.receive_maximum", "at least 1"),
    ("[broker]\nreceive_maximum = 65536\n", 2, "broker.receive_maximum", "at most 65535"),
    ("[broker]\nsys_interval = nan\n", 2, "broker.sys_interval", "finite"),
    ("[broker]\nconnect_timeout = -inf\n", 2, "broker.connect_timeout", "finite"),
    ("[broker]\nmax_pending_per_address = -5\n", 2, "broker.max_pending_per_address",
     "at least 0"),
    ("[broker]\ndeny_subscribe = [1]\n", 2, "broker.deny_subscribe", "strings"),
    ('[broker]\nbridge_config = "/nonexistent/bridges.toml"\n', 2, "broker.bridge_config",
     "No such file"),
    ('[[broker.listeners]]\nport = 1884\npassword_file = "/nonexistent/passwd"\n', 3,
     "broker.listeners[0].password_file", "cannot read /nonexistent/passwd"),
    ('[[broker.listeners]]\nport = 1884\n\nacl_file = "/nonexistent/acl"\n', 4,
     "broker.listeners[0].acl_file", "cannot read /nonexistent/acl"),
    ('[[broker.listeners]]\nkind = "ws"\npath = "mqtt"\n', 3, "broker.listeners[0].path",
     "must start with /"),
    ('[[broker.listeners]]\nkind = "ws"\nallowed_origins = [1]\n', 3,
     "broker.listeners[0].allowed_origins", "list of strings"),
])
def test_check_refuses_what_run_would_misuse(tmp_path: Path, text: str, line: int, key: str,
                                             problem: str) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 1, result.output
    first = result.output.splitlines()[0]
    assert first.startswith(f"{path}:{line}: {key}: "), first
    assert problem in first
    assert "Traceback" not in result.output


def test_every_numeric_broker_setting_has_a_range() -> None:
    """A number the broker core takes as given (a setting added to BrokerConfig by a later
    change) needs its range here, else `gateway check` passes what `gateway run` misuses."""
    unbounded = [name for name, option in schema.broker_options().items()
                 if option.kind in (int, float) and option.minimum is None]
    assert unbounded == []


def test_a_broken_acl_file_is_reported_with_its_own_line(tmp_path: Path) -> None:
    acl = tmp_path / "acl"
    acl.write_text("user alice\ntopic readwrite home/#/bad\n")
    errors = _errors(f'[[broker.listeners]]\nport = 1884\nacl_file = "{acl}"\n')
    assert errors == [f"test.toml:3: broker.listeners[0].acl_file: {acl}:2: invalid topic "
                      "filter 'home/#/bad'"]


def test_a_config_that_is_not_utf8_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_bytes(b'[gateway]\nname = "K\xfcche"\n')  # Latin-1, as an old editor saves
    with pytest.raises(ConfigErrors) as info:
        load_config(path)
    assert str(info.value) == f"{path}:2: not UTF-8 text (byte 0xfc); save the file as UTF-8"


@pytest.mark.parametrize("opening", ["[", "{x = "])
def test_a_config_nested_3000_deep_is_an_error_not_a_crash(opening: str) -> None:
    closing = "]" if opening == "[" else "}"
    errors = _errors(f"a = {opening * 3000}{closing * 3000}\n")
    assert errors == ["test.toml: not valid TOML: arrays or tables nested too deeply"]


# --- the property ---------------------------------------------------------------------

_LITERALS = ["nan", "-nan", "inf", "-inf", "1e300", "-1e300", "-1", "0", "1", "2", "4",
             "2.5", "65535", "65536", "9223372036854775807", "true", "false", '""', '"bogus"',
             '"full"', '"low-wear"', '"mqtt://broker.lan:1884"', '"http://x"', '"/nonexistent"',
             '"dht22"', '"relay"', '"pi"', "[]", '["a", 1]', "{}", "{ x = 1 }",
             "{ median = 5, delta = nan }", "1979-05-27T07:32:00Z", "07:32:00"]


def _value() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(_LITERALS),
                     st.floats(allow_nan=False).map(repr).filter(lambda s: "e" not in s or
                                                                  "." in s),
                     st.integers(-2**63, 2**63 - 1).map(str),
                     st.text(max_size=12).map(json.dumps))


def _table_keys() -> dict[str, list[str]]:
    sensor = list(schema.SENSOR) + ["filters"]
    for kind in driver_kinds():
        spec = driver_spec(kind)
        assert spec is not None
        sensor += list(spec.options) + [c.key for c in spec.channels(kind) if c.key]
    return {"gateway": list(schema.GATEWAY), "broker": list(schema.broker_options()),
            "mqtt": list(schema.MQTT), "serial": list(schema.SERIAL),
            "[room.kitchen]": sorted(set(sensor)), "[broker.listeners]":
            ["kind", "port", "host", "password_file", "acl_file", "allow_anonymous", "path",
             "certfile", "keyfile"], "room.kitchen.temperature": list(schema.CHANNEL)}


_KEYS = _table_keys()


@st.composite
def documents(draw: st.DrawFn) -> str:
    """TOML built from the schema's own tables and keys, with hostile values."""
    lines: list[str] = []
    for _ in range(draw(st.integers(1, 6))):
        table = draw(st.sampled_from(sorted(_KEYS)))
        lines.append(f"[{table}]")
        if table == "[room.kitchen]":
            lines.append(f'driver = "{draw(st.sampled_from(driver_kinds()))}"')
        for key in draw(st.lists(st.sampled_from(_KEYS[table]), max_size=5, unique=True)):
            lines.append(f"{key} = {draw(_value())}")
    return "\n".join(lines) + "\n"


def _accepted_config_is_usable(config: Config) -> None:
    """What the loader accepts, `gateway run` can use: finite numbers, a broker config
    and listener policies the broker builds."""
    for sensor in config.sensors:
        numbers = [sensor.interval, *vars(sensor.filters).values(), *sensor.options.values()]
        for value in numbers:
            assert not isinstance(value, float) or math.isfinite(value), sensor
        if sensor.interval is not None:
            assert 0 < sensor.interval <= schema.MAX_SECONDS
    settings = dict(config.broker)
    listeners = [ListenerConfig.from_value(item) for item in settings.pop("listeners", [])]
    BrokerConfig(**settings)
    for listener in listeners:
        listener_policy(listener)


def _parse_or_config_error(text: str) -> None:
    try:
        config = parse_config(text, "fuzz.toml")
    except ConfigErrors as exc:
        assert exc.errors
        return
    _accepted_config_is_usable(config)


_FUZZ = settings(max_examples=300, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(documents())
def test_generated_documents_give_a_config_or_our_error(text: str) -> None:
    _parse_or_config_error(text)


@_FUZZ
@given(st.lists(st.sampled_from(list("[]{}=.,\"'#\\\n ab1-+e_") + ["nan", "inf", "room",
                                                                   "broker", "driver"]),
                max_size=40).map("".join))
def test_toml_like_text_gives_a_config_or_our_error(text: str) -> None:
    _parse_or_config_error(text)


@_FUZZ
@given(st.binary(max_size=64))
def test_any_bytes_give_a_config_or_our_error(data: bytes) -> None:
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".toml") as fh:
        fh.write(data)
        fh.flush()
        try:
            load_config(fh.name)
        except ConfigErrors as exc:
            assert exc.errors


def _errors(text: str) -> list[str]:
    with pytest.raises(ConfigErrors) as info:
        parse_config(text, "test.toml")
    return [str(e) for e in info.value.errors]


def test_error_lines_have_the_promised_shape() -> None:
    errors = _errors(DHT + "interval = nan\nfilters = { heartbeat = inf }\n")
    assert all(ERROR_LINE.match(e) for e in errors), errors


def test_a_tls_key_that_does_not_match_its_certificate_is_refused(tmp_path: Path) -> None:
    from security.certs import make_pki

    pki = make_pki(tmp_path)
    _, other_key = pki.client("someone")
    listener = (f'[[broker.listeners]]\nkind = "tls"\nport = 8883\n'
                f'certfile = "{pki.server_cert}"\nkeyfile = "{{key}}"\n')
    errors = _errors(listener.format(key=other_key))
    assert len(errors) == 1
    assert errors[0].startswith("test.toml:4: broker.listeners[0].certfile: cannot load TLS")
    parse_config(listener.format(key=pki.server_key))  # the matching key is fine
