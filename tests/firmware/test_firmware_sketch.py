"""The Arduino sketch (firmware/node) compiled against the real ESP8266 core (its host
emulation build), PubSubClient 2.8 and the Adafruit DHT library's header, in each
configuration a user can pick, with the core's warnings. A flashable build needs PlatformIO
or arduino-cli; this catches a sketch that no longer compiles against those libraries."""

from __future__ import annotations

import subprocess

import pytest
from emunode import NodeConfig, build_node, make_emu, stage_sketch
from fwbuild import FIRMWARE

VARIANTS = {
    "serial_deep_sleep": NodeConfig(node_id="variant_sleep", transport="SERIAL", outputs=(),
                                    sleep=300),
    "nothing_wired_no_debug": NodeConfig(node_id="variant_bare", dht_pin=-1, inputs=(),
                                         outputs=(), extra={"NODE_DEBUG": "0"}),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_sketch_builds(variant: str) -> None:
    exe = build_node(VARIANTS[variant])
    assert exe.stat().st_size > 0


def test_the_example_config_builds_as_shipped() -> None:
    sketch = stage_sketch("example", (FIRMWARE / "node" / "config.example.h").read_text())
    proc = make_emu(sketch)
    assert proc.returncode == 0, proc.stderr[-4000:]


def test_sketch_without_config_says_what_to_do() -> None:
    proc = make_emu(stage_sketch("no_config", None))
    assert proc.returncode != 0
    assert "Copy config.example.h to config.h" in proc.stderr


def test_config_h_is_never_committed() -> None:
    proc = subprocess.run(
        ["git", "check-ignore", "-q", str(FIRMWARE / "node" / "config.h")],
        cwd=FIRMWARE, timeout=60,
    )
    assert proc.returncode == 0, "firmware/node/config.h must be in .gitignore"
