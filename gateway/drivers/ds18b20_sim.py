"""A simulated 1-Wire bus: a sysfs-like directory that a stand-in for the kernel's w1_therm
driver fills when a probe's ``w1_slave`` is read, so :class:`~gateway.drivers.ds18b20
.Ds18b20` reads real files with the kernel's format, CRC verdict and failure modes."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gateway.drivers.w1_sysfs import W1Sysfs


def crc8(data: bytes) -> int:
    """Dallas/Maxim CRC-8 (polynomial x^8 + x^5 + x^4 + 1), as the probe computes it."""
    crc = 0
    for byte in data:
        for _ in range(8):
            mix = (crc ^ byte) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
            byte >>= 1
    return crc


def w1_slave_text(scratchpad: bytes, crc_ok: bool | None = None) -> str:
    """What w1_therm prints for ``scratchpad`` (9 bytes, the last one the CRC)."""
    if crc_ok is None:
        crc_ok = crc8(scratchpad[:8]) == scratchpad[8]
    hexed = " ".join(f"{b:02x}" for b in scratchpad)
    raw = int.from_bytes(scratchpad[:2], "little", signed=True)
    return (f"{hexed} : crc={scratchpad[8]:02x} {'YES' if crc_ok else 'NO'}\n"
            f"{hexed} t={raw * 1000 // 16}\n")


def scratchpad_for(celsius: float) -> bytes:
    """A DS18B20's scratchpad at 12-bit resolution holding ``celsius``."""
    raw = round(celsius * 16).to_bytes(2, "little", signed=True)
    body = raw + bytes([0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10])
    return body + bytes([crc8(body)])


class ProbeFault:
    """What a simulated probe does wrong (tests set these)."""

    NONE = ""
    CRC = "crc"              # a bit flipped on the wire: the kernel says crc=.. NO
    POWER_ON = "power_on"    # the probe reset: 85.0 degC with a valid CRC
    ZEROS = "zeros"          # line shorted: all zeros, which passes the CRC
    MISSING = "missing"      # unplugged: the kernel drops its directory


@dataclass
class SimulatedProbe:
    """One probe: where its temperature comes from, and its fault."""

    temperature: Callable[[], float]
    fault: str = ProbeFault.NONE


class SimulatedW1(W1Sysfs):
    """/sys/bus/w1/devices in a temporary directory, written on every read."""

    def __init__(self, root: Path | None = None) -> None:
        # A directory of our own is removed when this object goes (or at exit).
        self._own = tempfile.TemporaryDirectory(prefix="w1-") if root is None else None
        super().__init__(Path(self._own.name) if self._own is not None else root)
        self.probes_wired: dict[str, SimulatedProbe] = {}

    def attach(self, rom: str, probe: SimulatedProbe) -> SimulatedProbe:
        """Wire a probe with ROM id ``rom`` to the bus."""
        self.probes_wired[rom] = probe
        self._sync(rom)
        return probe

    def read_slave(self, rom: str) -> str:
        self._sync(rom)
        return super().read_slave(rom)

    def _sync(self, rom: str) -> None:
        probe = self.probes_wired.get(rom)
        folder = self.root / rom
        if probe is None or probe.fault == ProbeFault.MISSING:
            shutil.rmtree(folder, ignore_errors=True)
            return
        folder.mkdir(parents=True, exist_ok=True)
        if probe.fault == ProbeFault.ZEROS:
            text = w1_slave_text(bytes(9))
        elif probe.fault == ProbeFault.POWER_ON:
            text = w1_slave_text(scratchpad_for(85.0))
        else:
            pad = scratchpad_for(probe.temperature())
            if probe.fault == ProbeFault.CRC:
                pad = pad[:1] + bytes([pad[1] ^ 0x04]) + pad[2:]
            text = w1_slave_text(pad)
        (folder / "w1_slave").write_text(text, encoding="ascii")

