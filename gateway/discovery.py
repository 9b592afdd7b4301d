"""Home Assistant MQTT discovery: one retained config message per channel, and the record
of what was announced so a sensor removed from the config is removed from Home Assistant.

Topic: <discovery_prefix>/<component>/<node_id>/<room>_<name>/config. Payload keys are
Home Assistant's full names (not the abbreviations), which keeps tests and logs readable.
"""

from __future__ import annotations

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
from gateway.topics import ChannelTopics

log = logging.getLogger(__name__)

RECORD_FILE = "discovery.json"


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


def discovery_payload(gateway: GatewaySettings, entity: Entity) -> dict[str, Any]:
    """The config message of one entity."""
    channel = entity.channel
    availability = [{"topic": gateway.status_topic}]
    if entity.topics.availability:
        availability.append({"topic": entity.topics.availability})
    payload: dict[str, Any] = {
        "name": entity.title,
        "unique_id": f"{gateway.node_id}_{entity.room}_{entity.object_id}",
        # Home Assistant 2025.10 replaced object_id with default_entity_id (domain.slug).
        "default_entity_id": f"{channel.component}.{entity.room}_{entity.object_id}",
        "state_topic": entity.topics.state,
        "availability": availability,
        "availability_mode": "all",
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "suggested_area": entity.room_title,
        "device": {
            "identifiers": [gateway.node_id],
            "name": title(gateway.name),
            "manufacturer": "sensor-gateway",
            "model": "Raspberry Pi sensor gateway",
            "sw_version": __version__,
        },
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
        payload["state_on"] = "ON"
        payload["state_off"] = "OFF"
    if channel.level and entity.topics.command is not None:
        # switch keys: a light or fan with a level reads its state with a template
        payload.pop("state_on", None)
        payload.pop("state_off", None)
        payload.update(level_keys(channel.component, entity.topics))
    return payload


def discovery_messages(gateway: GatewaySettings,
                       entities: list[Entity]) -> dict[str, str]:
    """topic -> JSON payload for every entity; empty when discovery is off."""
    if not gateway.discovery:
        return {}
    return {discovery_topic(gateway, e): json.dumps(discovery_payload(gateway, e),
                                                    sort_keys=True)
            for e in entities}


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
        """Replace the record atomically (a power cut leaves the old or the new one)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"topics": sorted(topics)}, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)
