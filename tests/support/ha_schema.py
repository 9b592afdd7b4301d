"""Home Assistant's own MQTT discovery schema, for testing what the gateway announces.

The PyPI package ``homeassistant`` goes into its own virtual environment, made on first
use under ~/.cache/sensor-gateway (about two minutes) and reused after. The version is the
newest release that installs on this machine's Python (3.11: Home Assistant 2024.3.3;
2024.4 and later need 3.12+). Only the core's own requirements are installed, without the
Bluetooth and cloud packages that its MQTT integration does not import, plus the MQTT
integration's paho-mqtt.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

HA_VERSION = "2024.3.3"
PAHO_FOR_HA = "paho-mqtt==1.6.1"          # homeassistant/components/mqtt/manifest.json
NOT_NEEDED = ("home-assistant-bluetooth", "hass-nabucasa", "pip")
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sensor-gateway"
CHECKER = Path(__file__).with_name("ha_schema_check.py")


def _venv() -> Path:
    return CACHE / f"homeassistant-{HA_VERSION}"


def ensure_venv() -> Path:
    """The Home Assistant venv's python, made if missing."""
    venv = _venv()
    python = venv / "bin" / "python"
    ready = venv / ".ready"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".homeassistant.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready.exists():
            return python
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True,
                       timeout=300)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, "--no-deps", f"homeassistant=={HA_VERSION}"], check=True,
                       timeout=1200)
        requires = subprocess.run(
            [str(python), "-c", "from importlib import metadata; "
             "print('\\n'.join(metadata.requires('homeassistant')))"],
            check=True, capture_output=True, text=True, timeout=300).stdout.split("\n")
        wanted = [r.replace(" (", "").replace(")", "") for r in requires
                  if r.strip() and not r.lower().startswith(NOT_NEEDED)]
        subprocess.run([*pip, *wanted, PAHO_FOR_HA], check=True, timeout=1800)
        ready.write_text(HA_VERSION)
    return python


def check_configs(pairs: list[tuple[str, dict]]) -> tuple[str, list[dict]]:
    """(Home Assistant version, one result per (component, config)): see ha_schema_check."""
    proc = subprocess.run([str(ensure_venv()), str(CHECKER)], input=json.dumps(pairs),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout)
    return out["version"], out["results"]


