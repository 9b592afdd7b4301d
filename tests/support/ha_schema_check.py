"""Runs inside the Home Assistant virtual environment (see ha_schema.py), not the project's.

Reads a JSON list of [component, config] pairs on stdin and prints, as JSON, one result per
config: {"error": "..."} when Home Assistant's MQTT discovery schema rejects it, else
{"dropped": [...]}: the top-level keys the schema silently removes (Home Assistant ignores
them), and {"device_dropped": [...]} likewise inside "device".

A "device" config (device-based discovery, Home Assistant 2024.12+) goes the way Home
Assistant's own discovery code takes it: the device schema, then each component with the
device, the origin and the shared options merged in, through its platform's schema; its
result lists what each component lost as "<component id>.<key>".

An "update_state" pair is not a config but the JSON an update entity's state topic carries,
checked with the schema Home Assistant reads it with (``MQTT_JSON_UPDATE_SCHEMA``).
"""

import importlib
import json
import sys


def check(component: str, config: dict) -> dict:
    module = importlib.import_module(f"homeassistant.components.mqtt.{component}")
    try:
        valid = module.DISCOVERY_SCHEMA(dict(config))
    except Exception as exc:  # voluptuous.Invalid and friends: report, never crash
        return {"error": f"{type(exc).__name__}: {exc}"}
    dropped = sorted(k for k in config if k not in valid)
    device = valid.get("device") or {}
    device_dropped = sorted(k for k in config.get("device", {}) if k not in device)
    return {"dropped": dropped, "device_dropped": device_dropped}


def check_device(config: dict) -> dict:
    from homeassistant.components.mqtt import discovery, schemas

    if not hasattr(schemas, "DEVICE_DISCOVERY_SCHEMA"):
        return {"error": "unsupported: device-based discovery needs Home Assistant 2024.12"}
    payload = discovery.MQTTDiscoveryPayload(json.loads(json.dumps(config)))
    discovery._replace_all_abbreviations(payload)
    try:
        schemas.DEVICE_DISCOVERY_SCHEMA(payload)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    dropped: list[str] = []
    device_dropped: list[str] = []
    for component_id, component in payload["components"].items():
        component = dict(component)
        platform = component.pop("platform")
        component["device"] = payload["device"]
        component["origin"] = payload.get("origin")
        discovery._merge_common_device_options(component, payload)
        result = check(platform, component)
        if "error" in result:
            return {"error": f"{component_id}: {result['error']}"}
        dropped += [f"{component_id}.{key}" for key in result["dropped"]]
        device_dropped += result["device_dropped"]
    return {"dropped": sorted(dropped), "device_dropped": sorted(set(device_dropped))}


def _with_hass() -> None:
    """A Home Assistant core with its frame helper, as the MQTT integration runs in: from
    2025.x a template in a config (``state_value_template``) is refused without it."""
    import tempfile

    from homeassistant.core import HomeAssistant
    from homeassistant.helpers import frame

    if hasattr(frame, "async_setup"):
        frame.async_setup(HomeAssistant(tempfile.mkdtemp()))


def check_update_state(state: dict) -> dict:
    from homeassistant.components.mqtt import update

    if not hasattr(update, "MQTT_JSON_UPDATE_SCHEMA"):
        return {"error": "unsupported: a JSON update state needs Home Assistant 2024.11"}
    try:
        valid = update.MQTT_JSON_UPDATE_SCHEMA(dict(state))
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"dropped": sorted(k for k in state if k not in valid), "device_dropped": []}


CHECKS = {"device": check_device, "update_state": check_update_state}


def main() -> None:
    from homeassistant.const import __version__

    pairs = json.load(sys.stdin)
    results = [CHECKS[c](cfg) if c in CHECKS else check(c, cfg) for c, cfg in pairs]
    json.dump({"version": __version__, "results": results}, sys.stdout)


async def _main() -> None:
    _with_hass()   # HomeAssistant() wants a running event loop
    main()


if __name__ == "__main__":
    import asyncio

    asyncio.run(_main())
