"""A description of the machine and software a benchmark ran on, for bench/README.md."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import subprocess

from .brokers import mosquitto_path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mosquitto_version() -> str:
    """`mosquitto -h`'s version line, or 'not installed'."""
    path = mosquitto_path()
    if not path:
        return "not installed"
    out = subprocess.run([path, "-h"], capture_output=True, text=True).stdout
    return out.splitlines()[0].strip() if out else "unknown"


def _dist_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def describe() -> dict[str, str]:
    """Date, machine and versions, as strings."""
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "uvloop": _dist_version("uvloop"),
        "mosquitto": mosquitto_version(),
        "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
