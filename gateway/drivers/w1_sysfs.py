"""The kernel's 1-Wire bus in sysfs (w1-gpio overlay + w1_therm): one directory per probe,
named by its ROM id, under /sys/bus/w1/devices. Reading ``w1_slave`` makes the kernel
start a conversion (750 ms at 12 bits) and returns the scratchpad with the kernel's CRC
verdict:

    72 01 4b 46 7f ff 0e 10 57 : crc=57 YES
    72 01 4b 46 7f ff 0e 10 57 t=23125
"""

from __future__ import annotations

from pathlib import Path

DEVICES = Path("/sys/bus/w1/devices")

#: family codes of the temperature probes w1_therm reads (DS18S20, DS1822, DS18B20, ...)
THERM_FAMILIES = ("10", "22", "28", "3b", "42")


class W1Sysfs:
    """The 1-Wire devices directory (``root``: /sys/bus/w1/devices on a Pi)."""

    def __init__(self, root: Path = DEVICES) -> None:
        self.root = root

    def probes(self) -> list[str]:
        """ROM ids of the temperature probes the kernel found."""
        try:
            names = [p.name for p in self.root.iterdir()]
        except OSError:
            return []
        return sorted(n for n in names if n[:2] in THERM_FAMILIES and n[2:3] == "-")

    def read_slave(self, rom: str) -> str:
        """The text of ``<rom>/w1_slave``; OSError when the probe is gone."""
        return (self.root / rom / "w1_slave").read_text(encoding="ascii", errors="replace")
