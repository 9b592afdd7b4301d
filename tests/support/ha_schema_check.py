"""Runs inside the Home Assistant virtual environment (see ha_schema.py), not the project's.

Reads a JSON list of [component, config] pairs on stdin and prints, as JSON, one result per
config: {"error": "..."} when Home Assistant's MQTT discovery schema rejects it, else
{"dropped": [...]}: the top-level keys the schema silently removes (Home Assistant ignores
them), and {"device_dropped": [...]} likewise inside "device".
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


def main() -> None:
    from homeassistant.const import __version__

    pairs = json.load(sys.stdin)
    json.dump({"version": __version__, "results": [check(c, cfg) for c, cfg in pairs]},
              sys.stdout)


if __name__ == "__main__":
    main()
