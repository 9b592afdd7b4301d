"""The ESP8266 (xtensa-lx106) builds: the portable library with its size reported, and the
whole sketch as the flashable image `make firmware` writes (firmware/xtensa/build.mk),
checked with esptool and against the ELF.

The compiler comes from Debian (gcc-xtensa-lx106, picolibc-xtensa-lx106-elf and the C++
headers of libstdc++-arm-none-eabi-dev, installed by deploy/dev-deps.sh); the core from
../shared/thirdparty. They are required, not optional: a change that cannot build for the
target must fail here rather than on a user's board.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from fwbuild import FIRMWARE, make, size_reports

# Flash the library may take on a node with 1 MB of program space; today it needs ~4 KB.
TEXT_BUDGET = 16 * 1024
# RAM: the two packet buffers of a FramedLink<..., 512> dominate (2 x 515 bytes).
BSS_BUDGET = 2 * 1024
THIRDPARTY = FIRMWARE.parents[1] / "shared" / "thirdparty"


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


# ---- The flashable image: `make firmware` (firmware/xtensa) ------------------------------
NODE_INO = FIRMWARE / "node" / "node.ino"
EBOOT_ELF = THIRDPARTY / "esp8266-arduino" / "bootloaders" / "eboot" / "eboot.elf"
# OTA needs the running sketch and the new one side by side in the sketch area of the
# 4M2M layout (eagle.flash.4m2m.ld: 0xFEFF0 bytes at 0x40201010).
SKETCH_AREA = 0xFEFF0
IMAGE_BUDGET = SKETCH_AREA // 2
APP_OFFSET = 0x1000            # eboot loads the sketch's image from here
IRAM = range(0x40100000, 0x40100000 + 0x8000)   # MMU_IRAM_SIZE 32 KB
ROM = range(0x40000000, 0x40010000)


@dataclass(frozen=True)
class Built:
    image: Path
    elf: Path
    build: Path
    seconds: float
    output: str


def node_version() -> str:
    match = re.search(r'^#define NODE_FIRMWARE_VERSION "([^"]+)"', NODE_INO.read_text(), re.M)
    assert match, "NODE_FIRMWARE_VERSION no longer in node.ino"
    return match.group(1)


@pytest.fixture(scope="module")
def built(firmware_build: Path) -> Built:
    assert shutil.which("xtensa-lx106-elf-gcc"), "xtensa-lx106-elf-gcc missing: deploy/dev-deps.sh"
    out = firmware_build / "out"
    started = time.monotonic()
    proc = make(firmware_build, "-j2", "firmware", f"OUT={out}", f"PYTHON={sys.executable}")
    seconds = time.monotonic() - started
    return Built(out / f"node-{node_version()}.bin", firmware_build / "xtensa" / "node.elf",
                 firmware_build / "xtensa", seconds, proc.stdout)


def esptool_image_info(path: Path) -> dict[str, str]:
    proc = subprocess.run([sys.executable, "-m", "esptool", "--chip", "esp8266", "image_info",
                           str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    info = dict(re.findall(r"^([A-Z][\w ]+): (.+)$", proc.stdout, re.M))
    info["segments"] = proc.stdout.split("Segments Information")[-1]
    return info


def symbols(elf: Path) -> dict[str, int]:
    out = subprocess.run(["xtensa-lx106-elf-nm", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    return {name: int(addr, 16) for addr, _, name in
            (line.split() for line in out.splitlines() if len(line.split()) == 3)}


def test_make_firmware_writes_the_versioned_image(built: Built) -> None:
    version = node_version()
    assert built.image.is_file(), built.output
    size = built.image.stat().st_size
    assert f"node-{version}.bin: {size} bytes" in built.output   # make prints the size
    text = sum(s for n, s in section_sizes(built.elf).items() if n in (".text", ".text1"))
    size_reports.append(
        f"firmware: {built.image.name} {size} bytes ({size / 1024:.0f} KB; IRAM {text} of "
        f"{len(IRAM)} bytes), make firmware from scratch in {built.seconds:.0f} s")


def section_sizes(elf: Path) -> dict[str, int]:
    out = subprocess.run(["xtensa-lx106-elf-size", "-A", str(elf)], capture_output=True,
                         text=True, check=True).stdout
    return {f[0]: int(f[1]) for f in (line.split() for line in out.splitlines())
            if len(f) == 3 and f[0].startswith(".") and f[1].isdigit()}


def test_image_is_the_boot_loader_and_the_sketch_as_esptool_reads_them(
        built: Built, tmp_path: Path) -> None:
    # At 0x0: the core's eboot, with the header the ROM and the core read (DIO, 40 MHz, 4 MB).
    boot = esptool_image_info(built.image)
    assert boot["Image version"] == "1"
    assert (boot["Flash size"], boot["Flash freq"], boot["Flash mode"]) == ("4MB", "40m", "DIO")
    assert boot["Checksum"].endswith("(valid)")
    assert int(boot["Entry point"], 16) == elf_entry(EBOOT_ELF)
    # At 0x1000: the sketch, flash-mapped code first (at flash 0x1010 = 0x40201010), then the
    # RAM segments eboot copies; its entry is the ELF's (the core's app_entry, in IRAM).
    app_file = tmp_path / "app.bin"
    app_file.write_bytes(built.image.read_bytes()[APP_OFFSET:])
    app = esptool_image_info(app_file)
    assert app["Checksum"].endswith("(valid)")
    assert app["Flash size"] == "4MB"
    entry = int(app["Entry point"], 16)
    assert entry == elf_entry(built.elf) == symbols(built.elf)["app_entry"]
    assert entry in IRAM
    rows = re.findall(r"^\s*(\d+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)",
                      app["segments"], re.M)
    load = [int(addr, 16) for _, _, addr, _ in rows]
    assert load[0] == 0x40201010 and int(rows[0][3], 16) == 8
    assert any(a in IRAM for a in load) and any(0x3FFE8000 <= a < 0x40000000 for a in load)


def elf_entry(elf: Path) -> int:
    out = subprocess.run(["xtensa-lx106-elf-readelf", "-h", str(elf)], capture_output=True,
                         text=True, check=True).stdout
    return int(re.search(r"Entry point address:\s+0x([0-9a-f]+)", out).group(1), 16)


def test_image_leaves_room_for_an_update(built: Built) -> None:
    size = built.image.stat().st_size
    assert size < IMAGE_BUDGET, f"{size} bytes: an OTA update needs two copies in {SKETCH_AREA}"


def test_version_string_is_inside_the_image(built: Built) -> None:
    data = built.image.read_bytes()
    assert b'{"fw":"' + node_version().encode() + b'"' in data[APP_OFFSET:]


def test_code_that_must_run_from_iram_is_in_iram(built: Built) -> None:
    """IRAM_ATTR functions (interrupt handlers, flash and heap code that runs while the
    flash cache is off) must not land in flash; the heap (umm_malloc.cpp, which the linker
    script keeps out of flash by file name) neither; and the string functions IRAM code
    calls are the ROM's, not picolibc's in flash."""
    addresses = symbols(built.elf)
    iram_attr: set[str] = set()
    for obj in [*built.build.glob("obj/**/*.o"), built.build / "core.a"]:
        table = subprocess.run(["xtensa-lx106-elf-objdump", "-t", str(obj)],
                               capture_output=True, text=True, check=True).stdout
        for line in table.splitlines():
            fields = line.split()
            if len(fields) >= 6 and fields[-3].startswith(".iram.text") and "F" in fields[2:-3]:
                iram_attr.add(fields[-1])
    linked = sorted(name for name in iram_attr if name in addresses)
    assert {"uart_isr", "timer1_isr_handler", "__digitalRead", "__wrap_spi_flash_read"} <= set(
        linked), linked
    in_flash = [name for name in linked if addresses[name] not in IRAM]
    assert in_flash == []
    for name in ("malloc", "free", "umm_malloc_core", "umm_free_core"):
        assert addresses[name] in IRAM, f"{name} at 0x{addresses[name]:x}, in flash"
    for name in ("memcpy", "memset", "memmove", "memcmp", "strlen", "strcmp"):
        assert addresses[name] in ROM, f"{name} at 0x{addresses[name]:x}, not the ROM's"
    assert addresses["setup"] >= 0x40201010 and addresses["loop"] >= 0x40201010


def test_iram_code_calls_nothing_of_picolibc(built: Built) -> None:
    """IRAM code runs while the flash cache is off (interrupts during flash writes); the
    picolibc functions it could call sit in flash. Every function address IRAM code loads
    (its literal words) must belong to the core, the SDK or the ROM, never to picolibc."""
    defined = {addr: name for name, addr in symbols(built.elf).items()}
    picolibc = defined_in([built.build / "picolibc" / name for name in ("libc.a", "libm.a")])
    ours = defined_in([*built.build.glob("obj/**/*.o"), built.build / "core.a"])
    loaded: set[str] = set()
    for section in (".text", ".text1"):
        code = built.build / f"iram{section}.bin"
        subprocess.run(["xtensa-lx106-elf-objcopy", "-O", "binary", f"--only-section={section}",
                        str(built.elf), str(code)], check=True)
        data = code.read_bytes()
        words = {int.from_bytes(data[i:i + 4], "little") for i in range(0, len(data) - 3, 4)}
        loaded |= {defined[w] for w in words if w in defined and w >= 0x40201010}
    assert loaded, "no calls from IRAM into flash found at all: the scan is broken"
    assert sorted((loaded & picolibc) - ours) == []


def defined_in(files: list[Path]) -> set[str]:
    out = subprocess.run(["xtensa-lx106-elf-nm", "--defined-only", *map(str, files)],
                         capture_output=True, text=True, check=True).stdout
    return {f[2] for f in (line.split() for line in out.splitlines())
            if len(f) == 3 and f[1] in "TW"}
