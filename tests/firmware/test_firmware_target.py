"""The portable library cross-compiled for the ESP8266 (xtensa-lx106), with its size reported.

The compiler comes from Debian (gcc-xtensa-lx106, picolibc-xtensa-lx106-elf, installed by
deploy/dev-deps.sh). It is required, not optional: a change that cannot build for the
target must fail here rather than on a user's PlatformIO.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from fwbuild import make, size_reports

# Flash the library may take on a node with 1 MB of program space; today it needs ~4 KB.
TEXT_BUDGET = 16 * 1024
# RAM: the two packet buffers of a FramedLink<..., 512> dominate (2 x 515 bytes).
BSS_BUDGET = 2 * 1024


def test_cross_compile_for_esp8266(firmware_build: Path) -> None:
    assert shutil.which("xtensa-lx106-elf-g++"), (
        "xtensa-lx106-elf-g++ missing: run deploy/dev-deps.sh (apt-get install "
        "gcc-xtensa-lx106 picolibc-xtensa-lx106-elf)"
    )
    out = make(firmware_build, "target-size").stdout
    total = re.search(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+[0-9a-f]+\s+\(TOTALS\)", out, re.M)
    assert total, out
    text, data, bss = (int(x) for x in total.groups())
    objects = re.findall(r"/lx106/(\w+)\.o$", out, re.M)
    assert {"crc16", "cobs", "frame", "mqtt_packet", "target_probe"} <= set(objects)
    size_reports.append(
        f"firmware: gwlink for xtensa-lx106 (-Os): text={text} data={data} bss={bss} bytes "
        f"in {len(objects)} objects"
    )
    assert 0 < text < TEXT_BUDGET
    assert bss < BSS_BUDGET
