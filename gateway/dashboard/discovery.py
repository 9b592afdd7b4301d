"""Home Assistant MQTT discovery configs, read as the dashboard's source of metadata.

A config is retained at ``homeassistant/<component>/[<node>/]<object>/config`` and holds
JSON: the entity's name, state and command topics, unit, device class, availability. Home
Assistant allows abbreviated keys (``stat_t``, ``unit_of_meas``) and a ``~`` base topic; any
publisher may use them, so both spellings are read here. An empty payload removes the entity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

PREFIX = "homeassistant"

#: the components the dashboard shows; others (cameras, climate) are ignored
COMPONENTS = ("sensor", "binary_sensor", "switch", "light", "fan")

# Home Assistant's abbreviations for the keys read below.
_ABBREVIATIONS = {
    "stat_t": "state_topic",
    "cmd_t": "command_topic",
    "avty_t": "availability_topic",
    "avty": "availability",
    "avty_mode": "availability_mode",
    "unit_of_meas": "unit_of_measurement",
    "dev_cla": "device_class",
    "stat_cla": "state_class",
    "ent_cat": "entity_category",
    "pl_on": "payload_on",
    "pl_off": "payload_off",
    "stat_on": "state_on",
    "stat_off": "state_off",
    "pl_avail": "payload_available",
    "pl_not_avail": "payload_not_available",
    "uniq_id": "unique_id",
    "dev": "device",
    "sug_dsp_prc": "suggested_display_precision",
    "t": "topic",
    "sa": "suggested_area",
    "ids": "identifiers",
    "cmps": "components",
    "o": "origin",
    "p": "platform",
}

#: options of a device-based config that its components inherit unless they set them
_SHARED = ("availability", "availability_mode", "availability_topic", "command_topic",
           "payload_available", "payload_not_available", "state_topic")


@dataclass(frozen=True)
class EntityConfig:
    """What one discovery config says about one entity."""

    config_topic: str
    component: str
    state_topic: str
    name: str | None = None
    unique_id: str | None = None
    command_topic: str | None = None
    unit: str | None = None
    device_class: str | None = None
    entity_category: str | None = None
    payload_on: str = "ON"
    payload_off: str = "OFF"
    #: (topic, payload meaning online, payload meaning offline)
    availability: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)
    availability_mode: str = "latest"
    area: str | None = None
    device_name: str | None = None
    #: an output whose state is its level: 0 to ``level_scale`` (a dimmer, a fan's speed)
    level_scale: float | None = None


def component_of(config_topic: str, prefix: str = PREFIX) -> str | None:
    """The component of a discovery config topic under ``prefix``, or None."""
    levels = config_topic.split("/")
    if len(levels) not in (4, 5) or levels[0] != prefix or levels[-1] != "config":
        return None
    return levels[1]


def parse_config(config_topic: str, payload: bytes, prefix: str = PREFIX) -> EntityConfig | None:
    """The entity a discovery message describes; None when it is removed, unusable or of a
    component the dashboard does not show. Never raises on bad input from the network."""
    component = component_of(config_topic, prefix)
    if component not in COMPONENTS or not payload:
        return None
    try:
        raw = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(raw, dict):
        return None
    data = _expand(raw)
    state_topic = data.get("state_topic")
    if not isinstance(state_topic, str) or not state_topic:
        return None
    device = data.get("device") if isinstance(data.get("device"), dict) else {}
    payload_on = _text(data.get("payload_on"), "ON")
    payload_off = _text(data.get("payload_off"), "OFF")
    return EntityConfig(
        config_topic=config_topic,
        component=component,
        state_topic=state_topic,
        name=_opt_text(data.get("name")),
        unique_id=_opt_text(data.get("unique_id")),
        command_topic=_opt_text(data.get("command_topic")),
        unit=_opt_text(data.get("unit_of_measurement")),
        device_class=_opt_text(data.get("device_class")),
        entity_category=_opt_text(data.get("entity_category")),
        # Switches may report a state spelled differently from the command.
        payload_on=_text(data.get("state_on"), payload_on),
        payload_off=_text(data.get("state_off"), payload_off),
        availability=_availability(data),
        availability_mode=_text(data.get("availability_mode"), "latest"),
        # The gateway puts suggested_area beside the name; Home Assistant reads it in device.
        area=_opt_text(data.get("suggested_area")) or _opt_text(device.get("suggested_area")),
        device_name=_opt_text(device.get("name")),
        level_scale=_level_scale(data, state_topic),
    )


def split_device_config(config_topic: str, payload: bytes,
                        prefix: str = PREFIX) -> dict[str, bytes]:
    """A device-based config (``<prefix>/device/<id>/config``, Home Assistant 2024.12+) as
    the per-entity configs it stands for, keyed by a per-entity topic
    ``<prefix>/<platform>/<id>/<component id>/config``; empty for a removed or unusable
    device. Never raises on bad input from the network."""
    levels = config_topic.split("/")
    if component_of(config_topic, prefix) != "device" or len(levels) != 4 or not payload:
        return {}
    try:
        raw = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    data = _expand(raw)
    components = data.get("components")
    if not isinstance(components, dict):
        return {}
    parts: dict[str, bytes] = {}
    for component_id, component in components.items():
        if not isinstance(component, dict) or not isinstance(component.get("platform"), str):
            continue
        entity = {k: data[k] for k in _SHARED if k in data}
        entity.update(component)
        entity["device"] = data.get("device")
        platform = entity.pop("platform")
        parts[f"{prefix}/{platform}/{levels[2]}/{component_id}/config"] = json.dumps(
            entity).encode()
    return parts


def _expand(data: dict[str, Any], base: str | None = None) -> dict[str, Any]:
    """Long key names, and ``~`` replaced in topics, also in nested objects and lists."""
    own = data.get("~")
    base = own if isinstance(own, str) else base
    out: dict[str, Any] = {}
    for key, value in data.items():
        key = _ABBREVIATIONS.get(key, key)
        if isinstance(value, dict):
            value = _expand(value, base)
        elif isinstance(value, list):
            value = [_expand(v, base) if isinstance(v, dict) else v for v in value]
        elif base is not None and isinstance(value, str) and key.endswith("topic"):
            if value.startswith("~"):
                value = base + value[1:]
            elif value.endswith("~"):
                value = value[:-1] + base
        out[key] = value
    return out


def _availability(data: dict[str, Any]) -> tuple[tuple[str, str, str], ...]:
    online = _text(data.get("payload_available"), "online")
    offline = _text(data.get("payload_not_available"), "offline")
    entries: list[tuple[str, str, str]] = []
    topic = data.get("availability_topic")
    if isinstance(topic, str) and topic:
        entries.append((topic, online, offline))
    listed = data.get("availability")
    if isinstance(listed, list):
        for item in listed:
            if isinstance(item, dict) and isinstance(item.get("topic"), str):
                entries.append((
                    item["topic"],
                    _text(item.get("payload_available"), "online"),
                    _text(item.get("payload_not_available"), "offline"),
                ))
    return tuple(entries)


def _opt_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _text(value: Any, default: str) -> str:
    return value if isinstance(value, str) and value else default


def _level_scale(data: dict[str, Any], state_topic: str) -> float | None:
    """The full scale of a light's brightness or a fan's percentage published on the
    entity's own state topic (as the gateway's PWM outputs do), else None."""
    if data.get("brightness_state_topic") == state_topic:
        scale = data.get("brightness_scale", 255)
    elif data.get("percentage_state_topic") == state_topic:
        scale = data.get("speed_range_max", 100)
    else:
        return None
    return float(scale) if isinstance(scale, int | float) and scale > 0 else None
