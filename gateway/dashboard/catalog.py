"""What the dashboard knows of the house, built only from broker messages.

Topics follow the gateway's layout (gateway/topics.py, firmware/lib/gwlink/src/topic.h):

    home/<room>/<name>                 a value, retained
    home/<room>/<name>/set             a command (ignored here: it is not a state)
    home/<room>/<name>/availability    online/offline of one sensor
    home/<node_id>/status              the gateway's online/offline (last will)
    home/<room>/<node>/status          an ESP8266 node's online/offline (last will)
    home/<room>/<node>/firmware/...    a node's firmware updates (ignored here: nodes.py)

Home Assistant discovery configs (:mod:`gateway.dashboard.ha_configs`) add names, units,
device classes, command and availability topics. A value seen without a config still shows,
with what its topic and payload tell.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gateway.dashboard.ha_configs import PREFIX as DISCOVERY_PREFIX
from gateway.dashboard.ha_configs import EntityConfig, parse_discovery_config, split_device_config
from gateway.dashboard.nodes import is_firmware_topic

HOME = "home"
COMMAND_SUFFIX = "/set"
AVAILABILITY_SUFFIX = "/availability"
STATUS_SUFFIX = "/status"
#: an ESP8266 node's self-description (home/<room>/<node>/announce), not a value
ANNOUNCE_SUFFIX = "/announce"
ONLINE, OFFLINE = "online", "offline"

#: order of kinds inside a room card: readings first, then inputs, then switches
_KIND_ORDER = {"sensor": 0, "binary_sensor": 1, "switch": 2, "light": 2, "fan": 2}

#: a right asked of the broker's ACL for the signed-in user (read, or write)
Right = Callable[[str], bool]


def _anyone(topic: str) -> bool:
    return True


@dataclass
class DashboardEntity:
    """One value shown on the page, with its metadata and last state."""

    topic: str
    room: str
    config: EntityConfig
    value: str | None = None
    #: Unix time the value arrived live; None when only a retained copy was seen
    updated: float | None = None
    discovered: bool = False

    @property
    def kind(self) -> str:
        """sensor, binary_sensor, switch or light."""
        return self.config.component

    @property
    def switchable(self) -> bool:
        """True for outputs the page may command."""
        return self.kind in ("switch", "light", "fan") and self.config.command_topic is not None

    def level(self) -> float | None:
        """A dimmer's or fan's level in percent, None for other entities."""
        scale = self.config.level_scale
        if scale is None or self.value is None:
            return None
        try:
            return round(float(self.value) / scale * 100.0, 1)
        except ValueError:
            return None

    def is_on(self) -> bool | None:
        """The state of a binary entity, None when the payload is neither on nor off."""
        if self.config.level_scale is not None:
            level = self.level()
            return None if level is None else level > 0
        if self.value == self.config.payload_on:
            return True
        if self.value == self.config.payload_off:
            return False
        return None

    def number(self) -> float | None:
        """The value as a number for the history: numeric readings, and 1/0 for binaries."""
        if self.value is None:
            return None
        if self.config.level_scale is not None:
            return self.level()
        if self.kind == "sensor":
            try:
                return float(self.value)
            except ValueError:
                return None
        on = self.is_on()
        return None if on is None else float(on)


@dataclass
class _Availability:
    payload: str
    seq: int  # arrival order, for availability_mode "latest"


@dataclass
class Catalog:
    """Entities by state topic, availability flags and node status, fed message by message."""

    clock: Callable[[], float] = time.time
    prefix: str = HOME                           # [gateway] topic_prefix
    discovery_prefix: str = DISCOVERY_PREFIX     # [gateway] discovery_prefix
    entities: dict[str, DashboardEntity] = field(default_factory=dict)
    #: availability and status topics -> last payload
    availability: dict[str, _Availability] = field(default_factory=dict)
    _configs: dict[str, str] = field(default_factory=dict)  # config topic -> state topic
    #: device-based config topic -> the per-entity config topics it stood for
    _device_parts: dict[str, set[str]] = field(default_factory=dict)
    _seq: itertools.count = field(default_factory=itertools.count)
    _discovered_availability: set[str] = field(default_factory=set)
    _areas: dict[str, str] = field(default_factory=dict)  # room -> suggested_area
    #: a client publishing endless new topics under home/ must not grow memory without end
    #: (the same bound applies to availability topics)
    max_entities: int = 2000

    # --- feeding ------------------------------------------------------------------------

    def handle(self, topic: str, payload: bytes, retained: bool) -> list[str]:
        """Take one message; returns the state topics of the entities whose display changed
        (a topic no longer in :attr:`entities` was removed)."""
        if topic.startswith(self.discovery_prefix + "/"):
            return self._discovery(topic, payload)
        if not topic.startswith(self.prefix + "/") or topic.endswith(COMMAND_SUFFIX):
            return []
        if topic.endswith(ANNOUNCE_SUFFIX) and topic.count("/") == 3:
            return []
        if is_firmware_topic(self.prefix, topic):
            return []
        text = payload.decode("utf-8", errors="replace")
        if self._is_availability(topic, text):
            if topic not in self.availability and len(self.availability) >= self.max_entities:
                return []
            self.availability[topic] = _Availability(text, next(self._seq))
            return [e.topic for e in self.entities.values()
                    if topic in self._availability_topics(e)]
        return self._value(topic, text, retained)

    def _is_availability(self, topic: str, text: str) -> bool:
        if topic.endswith(AVAILABILITY_SUFFIX) or topic in self.availability:
            return True
        if topic.endswith(STATUS_SUFFIX) and text in (ONLINE, OFFLINE):
            return True
        return topic in self._discovered_availability

    def _value(self, topic: str, text: str, retained: bool) -> list[str]:
        entity = self.entities.get(topic)
        if not text:
            # A retained value deleted (e.g. a forgotten node): nothing left to show.
            if entity is None:
                return []
            if entity.discovered:
                entity.value = None
            else:
                del self.entities[topic]
            return [topic]
        if entity is None:
            levels = topic.split("/")
            if len(levels) < 3 or len(self.entities) >= self.max_entities:
                return []
            entity = DashboardEntity(topic, levels[1], _guess_config(topic, text))
            self.entities[topic] = entity
        entity.value = text
        if not retained:
            entity.updated = self.clock()
        return [topic]

    def _discovery(self, config_topic: str, payload: bytes) -> list[str]:
        if config_topic.startswith(f"{self.discovery_prefix}/device/"):
            parts = split_device_config(config_topic, payload, self.discovery_prefix)
            changed: list[str] = []
            # A component left out of the device's config is removed, as Home Assistant does.
            for gone in self._device_parts.pop(config_topic, set()) - set(parts):
                changed += self._entity_discovery(gone, b"")
            for topic, part in parts.items():
                changed += self._entity_discovery(topic, part)
            if parts:
                self._device_parts[config_topic] = set(parts)
            return changed
        return self._entity_discovery(config_topic, payload)

    def _entity_discovery(self, config_topic: str, payload: bytes) -> list[str]:
        config = parse_discovery_config(config_topic, payload, self.discovery_prefix)
        old_state = self._configs.pop(config_topic, None)
        changed: list[str] = []
        if old_state is not None and (config is None or config.state_topic != old_state):
            # The config is gone: drop the entity (its sensor left the gateway config).
            if self.entities.pop(old_state, None) is not None:
                changed.append(old_state)
        if config is None:
            self._index_availability()
            return changed
        self._configs[config_topic] = config.state_topic
        entity = self.entities.get(config.state_topic)
        if entity is None:
            levels = config.state_topic.split("/")
            room = levels[1] if len(levels) >= 3 and levels[0] == self.prefix else "other"
            entity = DashboardEntity(config.state_topic, room, config)
            self.entities[config.state_topic] = entity
        entity.config = config
        entity.discovered = True
        if config.area:
            self._areas[entity.room] = config.area
        changed.append(entity.topic)
        self._index_availability()
        return changed

    def _index_availability(self) -> None:
        self._discovered_availability = {
            t for e in self.entities.values() for t, _, _ in e.config.availability
        }

    def note_time(self, topic: str, at: float, value: float) -> None:
        """Age for a value seen only retained: the history's last sample, when it matches."""
        entity = self.entities.get(topic)
        if entity is not None and entity.updated is None and entity.number() == value:
            entity.updated = at

    # --- reading ------------------------------------------------------------------------

    def online(self, entity: DashboardEntity, may_read: Right = _anyone) -> bool | None:
        """True/False when availability is known, None when nothing says; only topics
        ``may_read`` allows count (a flag the user may not read tells them nothing)."""
        if entity.config.availability:
            states = []
            for topic, up, down in entity.config.availability:
                seen = self.availability.get(topic) if may_read(topic) else None
                if seen is not None and seen.payload in (up, down):
                    states.append((seen.seq, seen.payload == up))
            if not states:
                return None
            mode = entity.config.availability_mode
            if mode == "all":
                return all(ok for _, ok in states)
            if mode == "any":
                return any(ok for _, ok in states)
            return max(states)[1]
        flag = entity.topic + AVAILABILITY_SUFFIX
        seen = self.availability.get(flag) if may_read(flag) else None
        return None if seen is None else seen.payload == ONLINE

    def _availability_topics(self, entity: DashboardEntity) -> set[str]:
        topics = {t for t, _, _ in entity.config.availability}
        topics.add(entity.topic + AVAILABILITY_SUFFIX)
        return topics

    def nodes(self, may_read: Right = _anyone) -> dict[str, bool]:
        """Every ``.../status`` topic seen (gateway and ESP8266 nodes) -> online."""
        return {
            topic: seen.payload == ONLINE
            for topic, seen in self.availability.items()
            if topic.endswith(STATUS_SUFFIX) and may_read(topic)
        }

    def entity_json(self, entity: DashboardEntity, may_read: Right = _anyone,
                    may_write: Right = _anyone) -> dict[str, Any]:
        """The form the page receives for one entity, for a user with these rights."""
        config = entity.config
        command = self.command_topic(entity.topic)
        return {
            "topic": entity.topic,
            "room": entity.room,
            "room_title": self.room_title(entity.room),
            "name": display_name(entity, self.room_title(entity.room)),
            "kind": entity.kind,
            "unit": config.unit,
            "device_class": config.device_class,
            "category": config.entity_category,
            "value": entity.value,
            "on": entity.is_on() if entity.kind != "sensor" else None,
            "level": entity.level(),
            "updated": entity.updated,
            "online": self.online(entity, may_read),
            "switchable": command is not None and may_write(command),
        }

    def room_title(self, room: str) -> str:
        """A room's display name: a discovery ``suggested_area``, else its topic level."""
        return self._areas.get(room) or room.replace("_", " ").capitalize()

    def snapshot(self, may_read: Right = _anyone,
                 may_write: Right = _anyone) -> list[dict[str, Any]]:
        """Every entity ``may_read`` allows, sorted by room title, kind and name."""
        items = [self.entity_json(e, may_read, may_write) for e in self.visible(may_read)]
        items.sort(key=lambda i: (i["room_title"].lower(), _KIND_ORDER.get(i["kind"], 3),
                                  i["name"].lower()))
        return items

    def visible(self, may_read: Right = _anyone) -> Iterable[DashboardEntity]:
        """The entities whose state topic ``may_read`` allows."""
        return (e for e in self.entities.values() if may_read(e.topic))

    def command_topic(self, topic: str) -> str | None:
        """Where to send a command for the switchable entity at ``topic``.

        Only ``<state topic>/set`` under the gateway's prefix: where the gateway's own
        outputs and the ESP8266 nodes listen (gateway/topics.py). A discovery config names
        its command topic in free text, and whoever may write discovery configs is not
        whoever clicks the switch; a config pointing anywhere else (``secret/pwned``, or
        another room's garage door) leaves the entity shown but not switchable.
        """
        entity = self.entities.get(topic)
        if entity is None or not entity.switchable:
            return None
        command = entity.config.command_topic
        if command != topic + COMMAND_SUFFIX or not topic.startswith(self.prefix + "/"):
            return None
        return command

    def payload_for(self, topic: str, on: bool) -> str:
        """The command payload that switches ``topic`` on or off."""
        config = self.entities[topic].config
        return config.payload_on if on else config.payload_off


def display_name(entity: DashboardEntity, room_title: str) -> str:
    """The entity's name without its room (the card already shows the room)."""
    name = entity.config.name or entity.topic.split("/", 2)[-1].replace("/", " ")
    if name.lower().startswith(room_title.lower() + " "):
        name = name[len(room_title) + 1:]
    name = name.replace("_", " ")
    return name[:1].upper() + name[1:]


def _guess_config(topic: str, text: str) -> EntityConfig:
    """Metadata for a value without discovery: a number is a sensor, ON/OFF a binary."""
    try:
        float(text)
        component = "sensor"
    except ValueError:
        component = "binary_sensor" if text in ("ON", "OFF") else "sensor"
    return EntityConfig(config_topic="", component=component, state_topic=topic)
