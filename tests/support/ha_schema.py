"""Home Assistant's own MQTT discovery schema, for testing what the gateway announces.

The PyPI package ``homeassistant`` goes into its own virtual environment, made on first
use under ~/.cache/sensor-gateway (one to three minutes) and reused after, with the newest
Python found here that a pinned release accepts: Home Assistant 2025.4.4 with Python 3.13
(found on PATH or among pyenv's versions), else 2024.3.3 with Python 3.11, the newest
release that still installs there. Only the core's own requirements are installed, without
the Bluetooth packages that the MQTT integration does not import, plus the paho-mqtt that
the integration's manifest names.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sensor-gateway"
CHECKER = Path(__file__).with_name("ha_schema_check.py")
PYENV = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"

#: (Python, Home Assistant release, requirements left out), best first
RELEASES = [
    ("3.13", "2025.4.4", ("home-assistant-bluetooth", "pip")),
    ("3.11", "2024.3.3", ("home-assistant-bluetooth", "hass-nabucasa", "pip")),
]


def _python(version: str) -> str | None:
    # pyenv's shims are on PATH even for versions that are not selected, and then fail.
    candidates = [shutil.which(f"python{version}"),
                  *map(str, sorted(PYENV.glob(f"{version}.*/bin/python{version}"), reverse=True))]
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import venv"], capture_output=True,
                               timeout=60)
        if probe.returncode == 0:
            return candidate
    return None


def pick_release() -> tuple[str, str, tuple[str, ...]]:
    """(python executable, Home Assistant version, requirements left out)."""
    for version, release, left_out in RELEASES:
        python = _python(version)
        if python:
            return python, release, left_out
    raise RuntimeError("no Python 3.13 or 3.11 for Home Assistant's schema")


def ensure_venv() -> tuple[Path, str]:
    """The Home Assistant venv's python (made if missing) and the release in it."""
    base, release, left_out = pick_release()
    venv = CACHE / f"homeassistant-{release}"
    python = venv / "bin" / "python"
    ready = venv / ".ready"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".homeassistant.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready.exists():
            return python, release
        subprocess.run([base, "-m", "venv", "--clear", str(venv)], check=True, timeout=300)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, "--no-deps", f"homeassistant=={release}"], check=True,
                       timeout=1200)
        listing = subprocess.run(
            [str(python), "-c",
             "import json; from importlib import metadata; "
             "d = metadata.distribution('homeassistant'); print(json.dumps([d.requires, "
             "json.loads(d.locate_file('homeassistant/components/mqtt/manifest.json')"
             ".read_text())['requirements']]))"],
            check=True, capture_output=True, text=True, timeout=300).stdout
        requires, mqtt_requires = json.loads(listing)
        wanted = [r.replace(" (", "").replace(")", "") for r in requires
                  if r.strip() and not r.lower().startswith(left_out)]
        subprocess.run([*pip, *wanted, *mqtt_requires], check=True, timeout=1800)
        ready.write_text(release)
    return python, release


def check_configs(pairs: list[tuple[str, dict]]) -> tuple[str, list[dict]]:
    """(Home Assistant version, one result per (component, config)): see ha_schema_check."""
    python, _ = ensure_venv()
    proc = subprocess.run([str(python), str(CHECKER)], input=json.dumps(pairs),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout)
    return out["version"], out["results"]


