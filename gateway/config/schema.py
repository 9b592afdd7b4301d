"""The keys each table of the config file may hold, with types, defaults and help.

The config reference in the README and the comments of gateway/example.toml describe the
same keys; a test checks that the example mentions every one of them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gateway.drivers.options import Option

#: Longest interval, throttle or heartbeat: a day. Longer is a typo (or 1e300), and an
#: interval that never ends looks like a dead sensor.
MAX_SECONDS = 86_400.0


def _topic_prefix(value: str) -> str | None:
    if not value or value.startswith("/") or value.endswith("/") or set("+#") & set(value):
        return "must be a topic without wildcards and without a leading or trailing '/'"
    return None


GATEWAY: dict[str, Option] = {
    "name": Option(str, "gateway", "the gateway's name: Home Assistant device name and node id"),
    "topic_prefix": Option(str, "home", "first topic level of every value", check=_topic_prefix),
    "status_topic": Option(str, "", "online/offline topic with last will; default "
                           "<topic_prefix>/<name>/status"),
    "discovery": Option(bool, True, "publish Home Assistant MQTT discovery"),
    "discovery_prefix": Option(str, "homeassistant", "Home Assistant's discovery prefix",
                               check=_topic_prefix),
    "discovery_format": Option(str, "entity", "entity: one config per entity (every Home "
                               "Assistant); device: one per device (Home Assistant 2024.12+)",
                               choices=("entity", "device")),
    "data_dir": Option(str, "", "where the gateway keeps state (what discovery announced); "
                       "default $STATE_DIRECTORY or ~/.local/state/sensor-gateway"),
    "hardware": Option(str, "auto", "auto: real GPIO on a Raspberry Pi, simulated elsewhere",
                       choices=("auto", "real", "simulated")),
}

def _broker_url(value: str) -> str | None:
    if not value:
        return None
    from gateway.mqtt_url import parse_broker_url

    try:
        parse_broker_url(value)
    except ValueError as exc:
        return str(exc)
    return None


MQTT: dict[str, Option] = {
    "url": Option(str, "", "mqtt://host:port of an external broker; empty: embedded broker",
                  check=_broker_url),
    "username": Option(str, "", "user name at the external broker"),
    "password": Option(str, "", "password at the external broker"),
    "client_id": Option(str, "", "client id at the external broker; default gateway-<name>"),
    "keepalive": Option(int, 60, "keepalive in seconds", minimum=5, maximum=65535),
}

SERIAL: dict[str, Option] = {
    "enabled": Option(bool, True, "bridge ESP8266 nodes on USB serial cables to the broker"),
    "ports": Option(list, [], "serial ports of nodes, e.g. /dev/serial/by-id/usb-1a86_..."),
    "autodetect": Option(bool, None, "also open every USB serial port that appears "
                         "(/dev/serial/by-id, ttyUSB, ttyACM); default: on a Raspberry Pi"),
    "exclude": Option(list, [], "ports never to open (a Zigbee or Z-Wave stick)"),
    "baudrate": Option(int, 115200, "line speed; the firmware's SERIAL_BAUD", minimum=1200,
                       maximum=4_000_000),
}

def _base_url(value: str) -> str | None:
    if value and not (value.startswith(("http://", "https://")) and len(value) > 8
                      and not set(value) & set(" ?#")):
        return "must be an http:// address such as http://192.168.1.10:8266"
    return None


NODES: dict[str, Option] = {
    "firmware_port": Option(int, 8266, "TCP port of the HTTP server nodes download firmware "
                            "images from; 0: off (nodes on cables still update)", minimum=0,
                            maximum=65535),
    "firmware_url": Option(str, "", "the image server's address as nodes reach it, put in "
                           "their offers; default http://<this machine's address>:"
                           "<firmware_port>", check=_base_url),
}

FILTERS: dict[str, Option] = {
    "multiply": Option(float, None, "multiply every value by this"),
    "offset": Option(float, None, "add this to every value (after multiply)"),
    "median": Option(int, None, "median over the last N values", minimum=1, maximum=99),
    "throttle": Option(float, None, "publish at most once every T seconds", minimum=0,
                       maximum=MAX_SECONDS),
    "delta": Option(float, None, "publish only on a change larger than X", minimum=0),
    "heartbeat": Option(float, None, "re-publish the latest value at least every T seconds",
                        minimum=1, maximum=MAX_SECONDS),
}

#: Home Assistant's sensor state classes (long-term statistics)
STATE_CLASSES = ("measurement", "total", "total_increasing")

CHANNEL: dict[str, Option] = {
    "name": Option(str, None, "topic name and display name of this channel"),
    "unit": Option(str, None, "unit shown in Home Assistant"),
    "device_class": Option(str, None, "Home Assistant device class"),
    "state_class": Option(str, None, "Home Assistant state class", choices=STATE_CLASSES),
    "enabled": Option(bool, True, "false: do not publish this channel"),
}

SENSOR: dict[str, Option] = {
    "driver": Option(str, None, "what is wired: see the driver list", required=True),
    "name": Option(str, None, "topic and display name; default the driver (button, relay) "
                   "or the channel (temperature)"),
    "pin": Option(int, None, "GPIO number (BCM numbering, not the header pin)"),
    "interval": Option(float, None, "seconds between reads of a polled sensor"),
    "unit": Option(str, None, "unit of a single-channel sensor"),
    "device_class": Option(str, None, "Home Assistant device class of a single-channel sensor"),
    "state_class": Option(str, None, "Home Assistant state class of a single-channel sensor: "
                          "measurement, total or total_increasing", choices=STATE_CLASSES),
}

#: Broker keys when the broker package cannot tell (it reports its own fields otherwise).
#: host and port are the gateway's defaults either way: an appliance serves the house.
_BROKER_FALLBACK: dict[str, Option] = {
    "host": Option(str, "0.0.0.0", "address the embedded broker listens on"),
    "port": Option(int, 1883, "TCP port of the embedded broker", minimum=0, maximum=65535),
}
BROKER_ALWAYS = ("host", "port")


def _string_list(value: list[Any]) -> str | None:
    if not all(isinstance(item, str) for item in value):
        return "must be a list of strings"
    return None


#: Ranges of the broker's numeric settings (MQTT's own limits where it sets one), and the
#: choices of its enumerated ones: the broker core takes what it is given.
_BROKER_LIMITS: dict[str, dict[str, Any]] = {
    "sys_interval": {"minimum": 0, "maximum": MAX_SECONDS},
    # Below 64 bytes not even a CONNECT with a client id fits: every client is refused.
    "max_packet_size": {"minimum": 64, "maximum": 268_435_460},
    "receive_maximum": {"minimum": 1, "maximum": 65_535},
    "max_inflight": {"minimum": 1, "maximum": 65_535},
    "max_queued_messages": {"minimum": 1},
    "max_queued_bytes": {"minimum": 1},
    "topic_alias_maximum": {"minimum": 0, "maximum": 65_535},
    "max_keepalive": {"minimum": 0, "maximum": 65_535},
    "max_session_expiry": {"minimum": 0, "maximum": 4_294_967_295},
    "connect_timeout": {"minimum": 0.1, "maximum": 3600},
    "max_connections": {"minimum": 0},
    "max_connection_rate": {"minimum": 0},
    # Negative would refuse every connection from the network (0 already means no limit).
    "max_pending_per_address": {"minimum": 0},
    "persistence": {"choices": ("full", "low-wear")},
    "persistence_interval": {"minimum": 0.1, "maximum": MAX_SECONDS},
    "deny_subscribe": {"check": _string_list},
}

# Settings that are objects, not config values.
_BROKER_INTERNAL = {"policy"}

_PLAIN = (bool, int, float, str, list)


def broker_options() -> dict[str, Option]:
    """Keys of the ``[broker]`` table: the fields of broker.BrokerConfig, so a field the
    broker core adds is configurable without touching the gateway."""
    try:
        from broker import BrokerConfig
    except ImportError:
        return dict(_BROKER_FALLBACK)
    options: dict[str, Option] = {}
    for f in dataclasses.fields(BrokerConfig):
        if f.name in _BROKER_INTERNAL:
            continue
        default: Any = f.default
        factory: Any = f.default_factory
        if default is dataclasses.MISSING and factory is not dataclasses.MISSING:
            default = factory()
        doc = f.metadata.get("help", f"broker setting {f.name}")
        if f.name in _BROKER_FALLBACK:
            options[f.name] = _BROKER_FALLBACK[f.name]
        elif isinstance(default, _PLAIN):
            options[f.name] = Option(type(default), default, doc,
                                     **_BROKER_LIMITS.get(f.name, {}))
        elif default is None:
            options[f.name] = Option(object, None, doc)
    return options
