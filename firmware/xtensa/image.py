"""The node's ELF and the core's boot loader as one image, flashable at 0x0.

Layout, as the ESP8266 Arduino core lays out its sketches (and as its Updater expects an
over-the-air image to look): the chip's ROM starts the core's boot loader (eboot) from 0x0;
eboot reads the sketch's image at 0x1000, copies its RAM segments to RAM and jumps to its
entry. Both are images in the ROM's format version 1 (esptool's `elf2image --version 1`),
with one difference in the sketch's: eboot expects the flash-mapped code (.irom0.text,
linked to run at 0x40201010, i.e. flash 0x1010) as the image's first segment, where
esptool's version 1 writes it to a file of its own. So the segments are written here with
esptool's own image classes, in that order; `esptool image_info` reads either image.

The boot loader's header is the one the ROM and the core read at run time: DIO, 40 MHz,
4 MB (ESP.getFlashChipSize()), as boards.txt sets for a NodeMCU / D1 mini.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from esptool.bin_image import ELFFile, ESP8266ROMFirmwareImage
from esptool.targets import ESP8266ROM

APP_OFFSET = 0x1000  # eboot's APP_START_OFFSET
FLASH_MODE_DIO = 2


def rom_image(elf_path: Path, flash_size: str, flash_freq: str) -> bytes:
    """The ELF's loadable sections as one version 1 image, flash-mapped code first."""
    elf = ELFFile(str(elf_path))
    image = ESP8266ROMFirmwareImage()
    image.entrypoint = elf.entrypoint
    image.segments = list(elf.sections)
    image.flash_mode = FLASH_MODE_DIO
    image.flash_size_freq = ESP8266ROM.parse_flash_size_arg(flash_size) + (
        ESP8266ROM.parse_flash_freq_arg(flash_freq)
    )
    image.merge_adjacent_segments()
    segments = [s for s in image.segments if image.is_irom_addr(s.addr)] + [
        s for s in image.segments if not image.is_irom_addr(s.addr)
    ]
    out = io.BytesIO()
    image.write_common_header(out, segments)
    checksum = ESP8266ROM.ESP_CHECKSUM_MAGIC
    for segment in segments:
        checksum = image.save_segment(out, segment, checksum)
    image.append_checksum(out, checksum)
    return out.getvalue()


def build(elf: Path, eboot: Path, flash_size: str = "4MB", flash_freq: str = "40m") -> bytes:
    boot = rom_image(eboot, flash_size, flash_freq)
    if len(boot) > APP_OFFSET:
        raise SystemExit(f"{eboot}: boot loader image of {len(boot)} bytes exceeds {APP_OFFSET}")
    app = rom_image(elf, flash_size, flash_freq)
    if not app.startswith(b"\xe9") or not app[8:12] == (0x40201010).to_bytes(4, "little"):
        raise SystemExit(f"{elf}: flash code not linked at 0x40201010 (eboot runs it from 0x1010)")
    return boot.ljust(APP_OFFSET, b"\xff") + app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elf", type=Path, required=True)
    parser.add_argument("--eboot", type=Path, required=True)
    parser.add_argument("--version", required=True, help="NODE_FIRMWARE_VERSION, checked")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    data = build(args.elf, args.eboot)
    if args.version.encode() not in data:
        raise SystemExit(f"version {args.version} not found in the image: wrong sketch?")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(args.out)
    print(f"{args.out}: {len(data)} bytes ({len(data) / 1024:.0f} KB), firmware {args.version}")


if __name__ == "__main__":
    main()
