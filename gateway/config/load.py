"""Reading and validating a config file, collecting every error before giving up."""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gateway.config import schema
from gateway.config.errors import ConfigError, ConfigErrors
from gateway.config.model import (
    ChannelSettings,
    Config,
    Filters,
    GatewaySettings,
    MqttSettings,
    NodesSettings,
    SensorConfig,
    SerialSettings,
)
from gateway.config.tomlpos import KeyLines, format_path
from gateway.config.tomlpos import Path as KeyPath
from gateway.drivers.base import Claim, DriverSpec, driver_kinds, driver_spec
from gateway.drivers.options import Option, coerce
from gateway.names import normalize, title
from gateway.topics import channel_topics, status_topic

#: GPIO numbers on the Raspberry Pi's 40-pin header (BCM numbering).
GPIO_PINS = range(0, 28)

_TOP_LEVEL = ("gateway", "broker", "mqtt", "serial", "nodes", "room")


class _Checker:
    """Walks the parsed document, recording errors with file, line and key."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.lines = KeyLines(text)
        self.errors: list[ConfigError] = []

    def error(self, path: KeyPath, message: str) -> None:
        self.errors.append(ConfigError(self.file, self.lines.line(path), format_path(path),
                                       message))

    def unknown(self, table: Mapping[str, Any], path: KeyPath, allowed: list[str]) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.error(path + (key,), f"unknown key{hint}")

    def options(self, table: Mapping[str, Any], path: KeyPath,
                options: Mapping[str, Option]) -> dict[str, Any]:
        """Type-check the keys of ``options`` found in ``table``; fill in defaults."""
        out: dict[str, Any] = {}
        for name, option in options.items():
            if name not in table:
                if option.required:
                    self.error(path, f"missing key {name!r}")
                out[name] = option.default
                continue
            value = table[name]
            # nan passes every comparison and inf every minimum: neither is a setting.
            problem = ("must be a finite number, not " + repr(value)
                       if isinstance(value, float) and not math.isfinite(value)
                       else option.problem(value))
            if problem:
                self.error(path + (name,), problem)
                out[name] = option.default
            else:
                out[name] = coerce(option, table[name])
        return out

    def table(self, doc: Mapping[str, Any], key: str, path: KeyPath) -> Mapping[str, Any]:
        value = doc.get(key, {})
        if not isinstance(value, dict):
            self.error(path + (key,), "must be a table")
            return {}
        return value


def load_config(path: str | Path) -> Config:
    """Read and validate ``path``; raise :class:`ConfigErrors` listing every problem."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigErrors([ConfigError(str(path), None, "", exc.strerror or str(exc))]) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigErrors([ConfigError(
            str(path), line, "", f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the "
            "file as UTF-8")]) from None
    return parse_config(text, str(path))


def parse_config(text: str, file: str = "<config>") -> Config:
    """Validate the TOML ``text``; ``file`` is the name used in error messages."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None) or _line_from_message(str(exc))
        raise ConfigErrors([ConfigError(file, line, "", f"not valid TOML: {exc}")]) from exc
    except RecursionError:
        # tomllib recurses once per nested array or inline table.
        raise ConfigErrors([ConfigError(file, None, "", "not valid TOML: arrays or tables "
                                        "nested too deeply")]) from None
    check = _Checker(file, text)
    check.unknown(doc, (), list(_TOP_LEVEL))
    gateway = _gateway(check, check.table(doc, "gateway", ()))
    broker = _broker(check, check.table(doc, "broker", ()))
    mqtt_table = check.table(doc, "mqtt", ())
    check.unknown(mqtt_table, ("mqtt",), list(schema.MQTT))
    mqtt = MqttSettings(**check.options(mqtt_table, ("mqtt",), schema.MQTT))
    serial_table = check.table(doc, "serial", ())
    check.unknown(serial_table, ("serial",), list(schema.SERIAL))
    serial_values = check.options(serial_table, ("serial",), schema.SERIAL)
    for key in ("ports", "exclude"):
        if not all(isinstance(p, str) for p in serial_values[key]):
            check.error(("serial", key), "must be a list of paths")
        serial_values[key] = tuple(str(p) for p in serial_values[key])
    serial = SerialSettings(**serial_values)
    nodes_table = check.table(doc, "nodes", ())
    check.unknown(nodes_table, ("nodes",), list(schema.NODES))
    nodes = NodesSettings(**check.options(nodes_table, ("nodes",), schema.NODES))
    placed = _rooms(check, check.table(doc, "room", ()))
    _check_pins(check, placed)
    sensors = [sensor for _, sensor in placed]
    _check_topics(check, gateway, sensors)
    if check.errors:
        raise ConfigErrors(check.errors)
    return Config(path=Path(file), gateway=gateway, broker=broker, mqtt=mqtt,
                  sensors=tuple(sensors), serial=serial, nodes=nodes)


def _line_from_message(message: str) -> int | None:
    marker = "(at line "
    if marker in message:
        digits = message.split(marker, 1)[1].split(",", 1)[0]
        if digits.isdigit():
            return int(digits)
    return None


def _broker(check: _Checker, table: Mapping[str, Any]) -> dict[str, Any]:
    """Only what the user set, plus host and port: the broker keeps its own defaults."""
    options = schema.broker_options()
    check.unknown(table, ("broker",), list(options))
    values = check.options(table, ("broker",), options)
    _listeners(check, table.get("listeners", []))
    _bridges(check, table.get("bridge_config"))
    return {k: v for k, v in values.items() if k in table or k in schema.BROKER_ALWAYS}


def _listeners(check: _Checker, listeners: Any) -> None:
    """Each ``[[broker.listeners]]`` table, checked here so errors carry their line."""
    from broker.server.listeners import ListenerConfig

    allowed = [f.name for f in dataclasses.fields(ListenerConfig)]
    for i, item in enumerate(listeners if isinstance(listeners, list) else []):
        path = ("broker", "listeners", i)
        if not isinstance(item, dict):
            check.error(path, "must be a table: write [[broker.listeners]]")
            continue
        check.unknown(item, path, allowed)
        try:
            ListenerConfig.from_value({k: v for k, v in item.items() if k in allowed})
        except ValueError as exc:
            key = getattr(exc, "key", None)
            check.error(path + (key,) if key else path, str(exc))
            continue
        _listener_files(check, path, item)


def _listener_files(check: _Checker, path: KeyPath, item: Mapping[str, Any]) -> None:
    """The files a listener reads at start: present, readable and (password and ACL
    files) well-formed, as the broker will read them."""
    from broker.auth.acl import Acl
    from broker.auth.passwords import PasswordFile

    readers = {"password_file": PasswordFile.load, "acl_file": Acl.load,
               "certfile": _readable, "keyfile": _readable, "cafile": _readable}
    readable = True
    for key, read in readers.items():
        name = item.get(key)
        if not name:
            continue
        try:
            read(name)
        except OSError as exc:
            check.error(path + (key,), f"cannot read {name}: {exc.strerror or exc}")
            readable = False
        except (ValueError, UnicodeDecodeError) as exc:
            check.error(path + (key,), str(exc))
    if readable and item.get("kind") in ("tls", "wss"):
        from broker.transports.tls import TlsOptions, server_context

        try:  # a key that does not match its certificate, a file that is not PEM
            server_context(TlsOptions(
                certfile=item["certfile"], keyfile=item["keyfile"], cafile=item.get("cafile"),
                require_certificate=bool(item.get("require_certificate", False)),
                use_identity_as_username=bool(item.get("use_identity_as_username", False))))
        except (OSError, ValueError) as exc:
            check.error(path + ("certfile",), str(exc))


def _readable(name: str) -> None:
    with open(name, "rb"):
        pass


def _bridges(check: _Checker, name: Any) -> None:
    """The bridge file, read as the broker will read it."""
    if not isinstance(name, str) or not name:
        return
    from broker.bridge.config import load_bridges

    try:
        load_bridges(name)
    except OSError as exc:
        check.error(("broker", "bridge_config"), f"cannot read {name}: {exc.strerror or exc}")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        check.error(("broker", "bridge_config"), str(exc) or type(exc).__name__)


def _gateway(check: _Checker, table: Mapping[str, Any]) -> GatewaySettings:
    check.unknown(table, ("gateway",), list(schema.GATEWAY))
    values = check.options(table, ("gateway",), schema.GATEWAY)
    node_id = normalize(values["name"])
    if not node_id:
        check.error(("gateway", "name"), "needs at least one letter or digit")
        node_id = "gateway"
    status = values["status_topic"] or status_topic(values["topic_prefix"], node_id)
    return GatewaySettings(
        name=values["name"], node_id=node_id, topic_prefix=values["topic_prefix"],
        status_topic=status, discovery=values["discovery"],
        discovery_prefix=values["discovery_prefix"],
        discovery_format=values["discovery_format"], data_dir=values["data_dir"],
        hardware=values["hardware"],
    )


def _rooms(check: _Checker, rooms: Mapping[str, Any]) -> list[tuple[KeyPath, SensorConfig]]:
    """Every valid sensor with the key path it was defined at."""
    sensors: list[tuple[KeyPath, SensorConfig]] = []
    for room_key, entries in rooms.items():
        path: KeyPath = ("room", room_key)
        room = normalize(room_key)
        if not room:
            check.error(path, "a room name needs at least one letter or digit")
            continue
        if isinstance(entries, dict):
            check.error(path, f"write the sensors as [[room.{room_key}]] (an array of tables)")
            continue
        if not isinstance(entries, list):
            check.error(path, "must be an array of sensor tables")
            continue
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                check.error(path + (index,), "must be a table")
                continue
            sensor = _sensor(check, path + (index,), room, title(room_key), entry)
            if sensor is not None:
                sensors.append((path + (index,), sensor))
    return sensors


def _sensor(check: _Checker, path: KeyPath, room: str, room_title: str,
            entry: Mapping[str, Any]) -> SensorConfig | None:
    common = check.options(entry, path, schema.SENSOR)
    kind = common["driver"]
    if kind is None:
        return None
    spec = driver_spec(kind)
    if spec is None:
        close = difflib.get_close_matches(kind, driver_kinds(), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        check.error(path + ("driver",), f"unknown driver {kind!r}; {hint}"
                    f"known: {', '.join(driver_kinds())}")
        return None
    channel_keys = [c.key for c in spec.channels(kind)]
    single = spec.single_channel(kind)
    allowed = list(schema.SENSOR) + ["filters"] + list(spec.options)
    if not single:
        allowed += channel_keys
    check.unknown(entry, path, allowed)
    options = check.options(entry, path, spec.options)

    _check_pin(check, path, spec, kind, common["pin"], given="pin" in entry)
    interval = _interval(check, path, spec, common["interval"])
    name = None
    if common["name"] is not None:
        name = normalize(common["name"])
        if not name:
            check.error(path + ("name",), "needs at least one letter or digit")
            name = None
    filters = _filters(check, path, entry)
    channels: dict[str, ChannelSettings] = {}
    if single:
        channels[""] = ChannelSettings(unit=common["unit"], device_class=common["device_class"],
                                       state_class=common["state_class"])
    else:
        for key in ("unit", "device_class", "state_class"):
            if common[key] is not None:
                check.error(path + (key,), f"{kind} has several channels: set {key} in "
                            f"[room.<room>.<channel>] ({', '.join(channel_keys)})")
        for key in channel_keys:
            if key in entry:
                channels[key] = _channel(check, path + (key,), entry[key])
    sensor = SensorConfig(
        key=format_path(path), line=check.lines.line(path), room=room, room_title=room_title,
        driver=kind, name=name, title=common["name"], pin=common["pin"], interval=interval,
        filters=filters, options=options, channels=channels,
    )
    _check_filters_fit(check, path, spec, sensor)
    return sensor


def _check_pin(check: _Checker, path: KeyPath, spec: DriverSpec, kind: str,
               pin: int | None, given: bool) -> None:
    """``given``: the key is in the file; when its value was rejected (``pin = "five"``) that
    error stands alone, without a second one saying the key is missing."""
    if spec.needs_pin and not given:
        check.error(path, f"missing key 'pin' (the GPIO number {kind} is wired to)")
    elif not spec.needs_pin and pin is not None:
        check.error(path + ("pin",), f"{kind} takes no pin")
    elif pin is not None and pin not in GPIO_PINS:
        check.error(path + ("pin",), f"GPIO {pin} does not exist on the Raspberry Pi header "
                    f"(GPIO {GPIO_PINS.start}-{GPIO_PINS.stop - 1}, BCM numbering)")


def _interval(check: _Checker, path: KeyPath, spec: DriverSpec,
              interval: float | None) -> float | None:
    if spec.interval is None:
        if interval is not None:
            check.error(path + ("interval",), "only polled sensors have an interval")
        return None
    default, minimum = spec.interval
    if interval is None:
        return default
    if interval < minimum:
        check.error(path + ("interval",), f"must be at least {minimum:g} s for this sensor")
        return default
    if interval > schema.MAX_SECONDS:
        check.error(path + ("interval",), f"must be at most {schema.MAX_SECONDS:g} s "
                    f"(a day), not {interval!r}")
        return default
    return interval


def _filters(check: _Checker, path: KeyPath, table: Mapping[str, Any]) -> Filters:
    raw = table.get("filters", {})
    if not isinstance(raw, dict):
        check.error(path + ("filters",), "must be a table, e.g. { median = 5, delta = 0.2 }")
        return Filters()
    check.unknown(raw, path + ("filters",), list(schema.FILTERS))
    return Filters(**check.options(raw, path + ("filters",), schema.FILTERS))


def _channel(check: _Checker, path: KeyPath, raw: Any) -> ChannelSettings:
    if not isinstance(raw, dict):
        check.error(path, "must be a table")
        return ChannelSettings()
    check.unknown(raw, path, list(schema.CHANNEL) + ["filters"])
    values = check.options(raw, path, schema.CHANNEL)
    if values["name"] is not None and not normalize(values["name"]):
        check.error(path + ("name",), "needs at least one letter or digit")
        values["name"] = None
    return ChannelSettings(filters=_filters(check, path, raw), **values)


def _check_filters_fit(check: _Checker, path: KeyPath, spec: DriverSpec,
                       sensor: SensorConfig) -> None:
    """Numeric filters on an ON/OFF value are a mistake worth a clear message."""
    channels = spec.channels(sensor.driver)
    if not any(c.numeric for c in channels):
        for name in sensor.filters.numeric_only():
            check.error(path + ("filters", name), f"{sensor.driver} publishes ON/OFF; "
                        f"{name} applies to numbers only")
    for channel in channels:
        settings = sensor.channels.get(channel.key)
        if settings is None or channel.numeric or not channel.key:
            continue
        for name in settings.filters.numeric_only():
            check.error(path + (channel.key, "filters", name),
                        f"{channel.key} is ON/OFF; {name} applies to numbers only")


def _check_pins(check: _Checker, placed: list[tuple[KeyPath, SensorConfig]]) -> None:
    """No two sensors on one GPIO or I2C address, except those that share a bus."""
    owners: dict[str, tuple[SensorConfig, Claim]] = {}
    for path, sensor in placed:
        spec = driver_spec(sensor.driver)
        assert spec is not None  # unknown drivers never become SensorConfigs
        own: set[str] = set()
        for claim in spec.claims(sensor):
            if claim.label in own:
                check.error(path + (claim.key,), f"{claim.label} is given twice")
                continue
            own.add(claim.label)
            first, held = owners.setdefault(claim.label, (sensor, claim))
            if first is sensor or (claim.share and claim.share == held.share):
                continue
            where = f" (line {first.line})" if first.line else ""
            mine = f" ({claim.role})" if claim.role else ""
            theirs = f" as {held.role}" if held.role else ""
            check.error(path + (claim.key,), f"{claim.label}{mine} is already used by "
                        f"{first.key}{where}{theirs}")


def _check_topics(check: _Checker, gateway: GatewaySettings,
                  sensors: list[SensorConfig]) -> None:
    owners: dict[str, str] = {gateway.status_topic: "the gateway status topic"}
    for sensor in sensors:
        spec = driver_spec(sensor.driver)
        assert spec is not None  # unknown drivers never become SensorConfigs
        for channel in spec.channels(sensor.driver):
            topics = channel_topics(gateway.topic_prefix, sensor, spec, channel)
            label = f"{sensor.key} ({channel.key})" if channel.key else sensor.key
            for topic in topics.all():
                first = owners.setdefault(topic, label)
                if first != label:
                    check.errors.append(ConfigError(
                        check.file, sensor.line, sensor.key,
                        f"topic {topic} is also used by {first}; give one of them a "
                        f"different name"))

