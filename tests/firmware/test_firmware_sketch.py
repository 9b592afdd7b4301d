"""Type-checks the Arduino sketch (firmware/node) against declarations of the ESP8266 core,
PubSubClient 2.8 and the DHT library (tests/firmware/sketch_stubs), in each configuration
a user can pick. The real build needs PlatformIO or arduino-cli; this catches a sketch
that no longer compiles against the portable library or the libraries' APIs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from fwbuild import FIRMWARE

STUBS = Path(__file__).parent / "sketch_stubs"
EXAMPLE = FIRMWARE / "node" / "config.example.h"

VARIANTS = {
    "wifi": {},
    "serial_deep_sleep": {
        "#define NODE_TRANSPORT NODE_TRANSPORT_WIFI": "#define NODE_TRANSPORT NODE_TRANSPORT_SERIAL",
        "#define DEEP_SLEEP_S 0": "#define DEEP_SLEEP_S 300",
    },
    "no_sensors_no_debug": {
        "#define DHT_PIN 14": "#define DHT_PIN -1",
        "#define CONTACT_PIN 12": "#define CONTACT_PIN -1",
        "#define NODE_DEBUG 1": "#define NODE_DEBUG 0",
    },
}


def compile_sketch(sketch_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "g++", "-std=gnu++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
            f"-I{STUBS}", f"-I{FIRMWARE / 'lib' / 'gwlink' / 'src'}",
            "-include", "Arduino.h", "-x", "c++", str(sketch_dir / "node.ino"),
        ],
        capture_output=True, text=True, timeout=300,
    )


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_sketch_compiles(tmp_path: Path, variant: str) -> None:
    sketch = tmp_path / "node"
    shutil.copytree(FIRMWARE / "node", sketch, ignore=shutil.ignore_patterns("config.h"))
    config = EXAMPLE.read_text()
    for old, new in VARIANTS[variant].items():
        assert old in config, f"config.example.h no longer has {old!r}"
        config = config.replace(old, new)
    (sketch / "config.h").write_text(config)
    proc = compile_sketch(sketch)
    assert proc.returncode == 0, proc.stderr


def test_sketch_without_config_says_what_to_do(tmp_path: Path) -> None:
    sketch = tmp_path / "node"
    shutil.copytree(FIRMWARE / "node", sketch, ignore=shutil.ignore_patterns("config.h"))
    proc = compile_sketch(sketch)
    assert proc.returncode != 0
    assert "Copy config.example.h to config.h" in proc.stderr


def test_config_h_is_never_committed() -> None:
    proc = subprocess.run(
        ["git", "check-ignore", "-q", str(FIRMWARE / "node" / "config.h")],
        cwd=FIRMWARE, timeout=60,
    )
    assert proc.returncode == 0, "firmware/node/config.h must be in .gitignore"
