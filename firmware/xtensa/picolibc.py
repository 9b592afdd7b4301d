"""Debian's picolibc for the ESP8266 core's link: copies of libc.a and libm.a in OUT.

Debian builds picolibc for the lx106 without -mlongcalls: its calls are CALL0, which reach
+-512 KB, and the core's linker script puts it in flash (0x402xxxxx), out of reach of the
ROM (0x4000xxxx: soft float, 32-bit division), of IRAM (0x401xxxxx: libgcc) and possibly of
the core's hooks. Two changes to the copies, nothing else:

1. The string functions the chip's ROM provides (memcpy, memset, strlen, ...; the names
   eagle.rom.addr.v6.ld gives) are taken out, so everyone uses the ROM's, as with the core's
   own toolchain: the SDK's and the core's IRAM code call memcpy/memset, and code in flash
   cannot run while the flash cache is off.
2. Every call target the archives do not define themselves (read from their CALL0
   relocations) is renamed X -> __libc_veneer_X; calls.h lists them for libc_veneers.S,
   whose veneers sit in flash next to libc and jump on with a 32-bit address.

    python3 picolibc.py --lib /usr/lib/xtensa-lx106-elf/lib --rom-ld .../eagle.rom.addr.v6.ld --out DIR
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from pathlib import Path

TOOL = "xtensa-lx106-elf-"
ARCHIVES = ("libc.a", "libm.a")


def run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def rom_names(rom_ld: Path) -> set[str]:
    return set(re.findall(r"^PROVIDE\s*\(\s*(\w+)\s*=", rom_ld.read_text(), re.M))


def defined_by_member(archive: Path) -> dict[str, set[str]]:
    """Global symbols defined by each member of the archive."""
    members: dict[str, set[str]] = {}
    for line in run(TOOL + "nm", "-A", "--defined-only", "-g", str(archive)).splitlines():
        # /path/libc.a:member.o:00000044 T memcpy
        where, _, sym = line.rpartition(" ")
        member = where.split(":")[1]
        members.setdefault(member, set()).add(sym)
    return members


def call_targets(archives: list[Path]) -> list[str]:
    """Symbols called (CALL0 relocations) but defined in none of the archives."""
    called: set[str] = set()
    for reloc in run(TOOL + "objdump", "-r", *map(str, archives)).splitlines():
        fields = reloc.split()
        if len(fields) == 3 and fields[1] == "R_XTENSA_SLOT0_OP":
            target = re.sub(r"[-+]0x[0-9a-f]+$", "", fields[2])
            if not target.startswith("."):  # a section: a jump inside the object
                called.add(target)
    defined: set[str] = set()
    for archive in archives:
        for symbols in defined_by_member(archive).values():
            defined |= symbols
    return sorted(called - defined)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", type=Path, required=True, help="Debian's picolibc lib dir")
    parser.add_argument("--rom-ld", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rom = rom_names(args.rom_ld)
    copies = []
    for name in ARCHIVES:
        copy = args.out / name
        shutil.copyfile(args.lib / name, copy)
        in_rom = [m for m, syms in defined_by_member(copy).items() if syms and syms <= rom]
        if in_rom:
            run(TOOL + "ar", "d", str(copy), *in_rom)
        copies.append(copy)
    calls = call_targets(copies)
    if not calls:
        raise SystemExit("no call targets found in picolibc: objdump output changed?")
    renames = args.out / "renames.txt"
    renames.write_text("".join(f"{c} __libc_veneer_{c}\n" for c in calls))
    for copy in copies:
        run(TOOL + "objcopy", f"--redefine-syms={renames}", str(copy))
    (args.out / "calls.h").write_text("".join(f"VENEER({c})\n" for c in calls))
    print(f"picolibc: {len(calls)} calls through veneers, ROM string functions used")


if __name__ == "__main__":
    main()
