"""The validated configuration: plain frozen dataclasses, no parsing here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Filters:
    """Per-channel value filters, applied in this order: multiply, offset, median, then the
    publish gates throttle and delta; heartbeat re-publishes the latest value at least every
    ``heartbeat`` seconds."""

    multiply: float | None = None
    offset: float | None = None
    median: int | None = None
    throttle: float | None = None
    delta: float | None = None
    heartbeat: float | None = None

    def numeric_only(self) -> list[str]:
        """Names of the filters that are set and only make sense for numbers."""
        names = ("multiply", "offset", "median", "delta")
        return [n for n in names if getattr(self, n) is not None]

    def merged(self, override: Filters) -> Filters:
        """These filters with every field that ``override`` sets replaced."""
        values = {k: v for k, v in vars(override).items() if v is not None}
        return Filters(**{**vars(self), **values})


@dataclass(frozen=True)
class ChannelSettings:
    """What the user changed about one channel of a sensor (``[room.x.temperature]``)."""

    name: str | None = None
    unit: str | None = None
    device_class: str | None = None
    filters: Filters = field(default_factory=Filters)
    enabled: bool = True
    state_class: str | None = None


@dataclass(frozen=True)
class SensorConfig:
    """One ``[[room.<room>]]`` entry."""

    key: str                     # where it came from, e.g. "room.kitchen[0]"
    line: int | None
    room: str                    # topic segment, e.g. "living_room"
    room_title: str              # display name, e.g. "Living room"
    driver: str                  # e.g. "dht22"
    name: str | None             # topic segment given by the user, None = driver default
    title: str | None            # display name given by the user
    pin: int | None
    interval: float | None       # seconds between reads (polled drivers)
    filters: Filters
    options: Mapping[str, Any]   # driver-specific options, defaults filled in
    channels: Mapping[str, ChannelSettings]


@dataclass(frozen=True)
class GatewaySettings:
    """The ``[gateway]`` table."""

    name: str = "gateway"
    node_id: str = "gateway"
    topic_prefix: str = "home"
    status_topic: str = "home/gateway/status"
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    discovery_format: str = "entity"     # or "device" (Home Assistant 2024.12 and later)
    data_dir: str = ""
    hardware: str = "auto"


@dataclass(frozen=True)
class MqttSettings:
    """The ``[mqtt]`` table: an external broker instead of the embedded one."""

    url: str = ""
    username: str = ""
    password: str = ""
    client_id: str = ""
    keepalive: int = 60


@dataclass(frozen=True)
class SerialSettings:
    """The ``[serial]`` table: ESP8266 nodes on USB serial cables."""

    enabled: bool = True
    ports: tuple[str, ...] = ()
    autodetect: bool | None = None
    exclude: tuple[str, ...] = ()
    baudrate: int = 115200


@dataclass(frozen=True)
class NodesSettings:
    """The ``[nodes]`` table: firmware updates of ESP8266 nodes."""

    firmware_port: int = 8266
    firmware_url: str = ""


@dataclass(frozen=True)
class Config:
    """A whole, valid gateway configuration."""

    path: Path
    gateway: GatewaySettings
    broker: Mapping[str, Any]    # passed to broker.BrokerConfig as keyword arguments
    mqtt: MqttSettings
    sensors: tuple[SensorConfig, ...]
    serial: SerialSettings = SerialSettings()
    nodes: NodesSettings = NodesSettings()
