"""Home Assistant MQTT discovery: one retained config message per channel, and the record
of what was announced so a sensor removed from the config is removed from Home Assistant.

Topic: <discovery_prefix>/<component>/<node_id>/<room>_<name>/config. Payload keys are
Home Assistant's full names (not the abbreviations), which keeps tests and logs readable.

Devices, as Home Assistant groups entities:
- the gateway itself (its own health: CPU temperature, uptime, ...);
- one device per room for the sensors wired to the gateway, with the room as its
  ``suggested_area`` (Home Assistant reads that key only inside ``device``), linked to the
  gateway by ``via_device``;
- one device per ESP8266 node, from the node's announcement (:func:`node_discovery_messages`),
  also in its room and linked to the gateway, with an ``update`` entity for its firmware
  (the topics of docs/contracts.md, "Node firmware updates").
Entity names leave out the device name: Home Assistant shows "Living Room Temperature" for
the entity "Temperature" of the device "Living Room".

``[gateway] discovery_format = "device"`` publishes the same configs grouped into one
message per device (<discovery_prefix>/device/<device id>/config, Home Assistant 2024.12
and later): the device and origin once, each entity under ``components`` with its
``platform``. See :func:`by_device`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway import __version__
from gateway.bus.base import OFFLINE, ONLINE
from gateway.config.model import GatewaySettings
from gateway.drivers.base import Channel
from gateway.names import title
from gateway.node_announcement import INPUT_KINDS, OUTPUT_KINDS, NodeAnnouncement
from gateway.topics import ChannelTopics

log = logging.getLogger(__name__)

RECORD_FILE = "discovery.json"
MANUFACTURER = "sensor-gateway"
#: object id of a node's firmware update entity: a hyphen is never in a node's own entity
#: names (a-z, 0-9, _), so an input called "firmware" cannot take its place
FIRMWARE_OBJECT = "firmware-update"
#: what the update entity publishes on the install topic (Home Assistant's default)
PAYLOAD_INSTALL = "install"
#: who publishes the configs; Home Assistant logs it with each discovered entity
ORIGIN = {"name": "sensor-gateway", "sw_version": __version__}


@dataclass(frozen=True)
class Entity:
    """A channel as Home Assistant sees it."""

    room: str                 # topic segment of the room
    room_title: str
    object_id: str            # last segment of the state topic
    title: str                # display name
    channel: Channel
    topics: ChannelTopics


def level_keys(component: str, topics: ChannelTopics) -> dict[str, Any]:
    """A 0-100 % output: the state topic holds the level and the command topic takes
    0-100 as well as ON/OFF, so one pair of topics serves both roles."""
    assert topics.command is not None  # outputs always have a command topic
    keys: dict[str, Any] = {
        "command_topic": topics.command,
        "state_value_template": "{{ 'ON' if value | float(0) > 0 else 'OFF' }}",
    }
    if component == "fan":
        keys.update(percentage_command_topic=topics.command,
                    percentage_state_topic=topics.state,
                    speed_range_min=1, speed_range_max=100)
    else:
        keys.update(brightness_command_topic=topics.command,
                    brightness_state_topic=topics.state, brightness_scale=100,
                    on_command_type="brightness")
    return keys


def discovery_topic(gateway: GatewaySettings, entity: Entity) -> str:
    """Where the entity's config is published."""
    return (f"{gateway.discovery_prefix}/{entity.channel.component}/{gateway.node_id}/"
            f"{entity.room}_{entity.object_id}/config")


def gateway_device(gateway: GatewaySettings) -> dict[str, Any]:
    """The gateway as a Home Assistant device."""
    return {
        "identifiers": [gateway.node_id],
        "name": title(gateway.name),
        "manufacturer": MANUFACTURER,
        "model": "Raspberry Pi sensor gateway",
        "sw_version": __version__,
    }


def room_device(gateway: GatewaySettings, room: str, room_title: str) -> dict[str, Any]:
    """The sensors wired to the gateway in one room, as a device in that area."""
    return {
        "identifiers": [f"{gateway.node_id}_room_{room}"],
        "name": room_title,
        "manufacturer": MANUFACTURER,
        "model": "Sensors wired to the gateway",
        "suggested_area": room_title,
        "via_device": gateway.node_id,
    }


def _on_gateway_device(entity: Entity) -> bool:
    # The Pi's own health (diagnostic channels) describes the gateway, not a room.
    return entity.channel.entity_category == "diagnostic"


def entity_name(entity: Entity) -> str:
    """The entity's own name, without its device's: "Temperature", "Light", "Uptime"."""
    if _on_gateway_device(entity):
        own = entity.channel.key.replace("_", " ") or entity.title
    else:
        own = entity.title.removeprefix(f"{entity.room_title} ")
    return own[:1].upper() + own[1:]


def discovery_payload(gateway: GatewaySettings, entity: Entity) -> dict[str, Any]:
    """The config message of one entity."""
    channel = entity.channel
    availability = [{"topic": gateway.status_topic}]
    if entity.topics.availability:
        availability.append({"topic": entity.topics.availability})
    device = (gateway_device(gateway) if _on_gateway_device(entity)
              else room_device(gateway, entity.room, entity.room_title))
    payload: dict[str, Any] = {
        "name": entity_name(entity),
        "unique_id": f"{gateway.node_id}_{entity.room}_{entity.object_id}",
        # Home Assistant 2025.10 replaced object_id with default_entity_id (domain.slug).
        "default_entity_id": f"{channel.component}.{entity.room}_{entity.object_id}",
        "state_topic": entity.topics.state,
        "availability": availability,
        "availability_mode": "all",
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "device": device,
        "origin": ORIGIN,
    }
    optional = {
        "device_class": channel.device_class,
        "unit_of_measurement": channel.unit,
        "state_class": channel.state_class,
        "entity_category": channel.entity_category,
        "icon": channel.icon,
        # a display hint of sensors only; outputs use precision for their payload
        "suggested_display_precision": channel.precision if channel.numeric else None,
    }
    payload.update({k: v for k, v in optional.items() if v is not None})
    if channel.component != "sensor":
        payload["payload_on"] = "ON"
        payload["payload_off"] = "OFF"
    if entity.topics.command is not None:
        payload["command_topic"] = entity.topics.command
    if channel.component == "switch":
        # A light reads its state with payload_on/off; only a switch knows state_on/off.
        payload["state_on"] = "ON"
        payload["state_off"] = "OFF"
    if channel.level and entity.topics.command is not None:
        # switch keys: a light or fan with a level reads its state with a template
        payload.pop("state_on", None)
        payload.pop("state_off", None)
        payload.update(level_keys(channel.component, entity.topics))
    return payload


def node_device(gateway: GatewaySettings, node: NodeAnnouncement) -> dict[str, Any]:
    """An ESP8266 node as a device in its room, linked to the gateway."""
    return {
        "identifiers": [f"{gateway.node_id}_node_{node.node_id}"],
        "name": title(node.node_id),
        "manufacturer": MANUFACTURER,
        "model": f"ESP8266 node ({'WiFi' if node.transport == 'wifi' else 'USB serial'})",
        "sw_version": node.firmware,
        "suggested_area": title(node.room),
        "via_device": gateway.node_id,
    }


def node_discovery_messages(gateway: GatewaySettings, node: NodeAnnouncement,
                            prefix: str) -> dict[str, str]:
    """topic -> JSON payload for every entity of ``node``; its values live under
    ``prefix``/<room>/<name>. Empty when discovery is off."""
    if not gateway.discovery:
        return {}
    base = {
        "availability": [{"topic": f"{prefix}/{node.room}/{node.node_id}/status"}],
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "device": node_device(gateway, node),
        "origin": ORIGIN,
    }
    entities: list[tuple[str, str, dict[str, Any]]] = []
    if node.climate:
        entities.append(("sensor", "temperature", {
            "device_class": "temperature", "unit_of_measurement": "°C",
            "state_class": "measurement", "suggested_display_precision": 1}))
        entities.append(("sensor", "humidity", {
            "device_class": "humidity", "unit_of_measurement": "%",
            "state_class": "measurement", "suggested_display_precision": 1}))
    for name, kind in node.inputs:
        extra: dict[str, Any] = {"payload_on": "ON", "payload_off": "OFF"}
        if INPUT_KINDS[kind]:
            extra["device_class"] = INPUT_KINDS[kind]
        entities.append(("binary_sensor", name, extra))
    for name, kind in node.outputs:
        extra = {"command_topic": f"{prefix}/{node.room}/{name}/set",
                 "payload_on": "ON", "payload_off": "OFF"}
        if OUTPUT_KINDS[kind] == "switch":
            extra.update(state_on="ON", state_off="OFF")
        entities.append((OUTPUT_KINDS[kind], name, extra))
    configs: dict[str, dict[str, Any]] = {}
    for component, name, extra in entities:
        payload = {
            "name": title(name),
            "unique_id": f"{gateway.node_id}_{node.node_id}_{name}",
            "default_entity_id": f"{component}.{node.room}_{name}",
            "state_topic": f"{prefix}/{node.room}/{name}",
            **base,
            **extra,
        }
        configs[f"{gateway.discovery_prefix}/{component}/{node.node_id}/{name}/config"] = payload
    update_topic = (f"{gateway.discovery_prefix}/update/{node.node_id}/{FIRMWARE_OBJECT}/"
                    "config")
    configs[update_topic] = firmware_update_payload(gateway, node, prefix, base)
    return _encode(gateway, configs)


def firmware_topic(prefix: str, node: NodeAnnouncement, leaf: str) -> str:
    """``<prefix>/<room>/<node>/firmware/<leaf>`` (state, install, offer, progress)."""
    return f"{prefix}/{node.room}/{node.node_id}/firmware/{leaf}"


def firmware_update_payload(gateway: GatewaySettings, node: NodeAnnouncement, prefix: str,
                            base: dict[str, Any]) -> dict[str, Any]:
    """The node's firmware as a Home Assistant ``update`` entity: the gateway's retained
    JSON state (installed and latest version, progress) and the install command, which
    the gateway's update service answers by offering its newest image to the node."""
    return {
        "name": "Firmware",
        "unique_id": f"{gateway.node_id}_{node.node_id}_{FIRMWARE_OBJECT}",
        "default_entity_id": f"update.{node.node_id}_firmware",
        "state_topic": firmware_topic(prefix, node, "state"),
        "command_topic": firmware_topic(prefix, node, "install"),
        "payload_install": PAYLOAD_INSTALL,
        "device_class": "firmware",
        "entity_category": "config",
        **base,
    }


def discovery_messages(gateway: GatewaySettings,
                       entities: list[Entity]) -> dict[str, str]:
    """topic -> JSON payload for every entity (or device, with ``discovery_format =
    "device"``); empty when discovery is off."""
    if not gateway.discovery:
        return {}
    configs = {discovery_topic(gateway, e): discovery_payload(gateway, e) for e in entities}
    return _encode(gateway, configs)


def by_device(prefix: str, configs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per-entity configs (config topic -> payload) regrouped as device-based discovery:
    <prefix>/device/<first device identifier>/config -> {device, origin, components}.
    Each component keeps its own keys and gains ``platform``; its id is the object id of
    its per-entity topic, so unique ids and entity ids stay as they were."""
    devices: dict[str, dict[str, Any]] = {}
    for topic, config in configs.items():
        component, object_id = topic.split("/")[-4], topic.split("/")[-2]
        device = config["device"]
        message = devices.setdefault(
            f"{prefix}/device/{device['identifiers'][0]}/config",
            {"device": device, "origin": config["origin"], "components": {}})
        own = {k: v for k, v in config.items() if k not in ("device", "origin")}
        message["components"][object_id] = {"platform": component, **own}
    return devices


def _encode(gateway: GatewaySettings, configs: dict[str, dict[str, Any]]) -> dict[str, str]:
    if gateway.discovery_format == "device":
        configs = by_device(gateway.discovery_prefix, configs)
    return {topic: json.dumps(payload, sort_keys=True) for topic, payload in configs.items()}


class AnnouncementRecord:
    """The discovery topics published last time, kept in the data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / RECORD_FILE

    def load(self) -> set[str]:
        """Topics announced by an earlier run (empty when there is no readable record)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return set()
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable %s: %s", self.path, exc)
            return set()
        topics = data.get("topics", []) if isinstance(data, dict) else []
        return {t for t in topics if isinstance(t, str)}

    def save(self, topics: set[str]) -> None:
        """Replace the record atomically (a power cut leaves the old or the new one, and so
        does a full disk: the half-written temporary file is removed)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps({"topics": sorted(topics)}, indent=1), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
