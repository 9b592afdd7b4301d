"""RAUC, the A/B update installer of the image, through its command line.

``rauc info`` checks a bundle's signature against the system's keyring (from
``/etc/rauc/system.conf``) without installing; ``rauc install`` and ``rauc status`` are
clients of RAUC's service over its D-Bus API (``de.pengutronix.rauc.Installer``), so the
rights the image grants on that API are the rights these commands have. The command line
is RAUC's own client of that API, prints the installer's progress line by line, and needs
no D-Bus library in the gateway's environment.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SYSTEM_CONF = Path("/etc/rauc/system.conf")
_PROGRESS = re.compile(r"^\s*(\d{1,3})% (.*)$")
NOT_AB = ("this system has no A/B update slots (RAUC is not set up here): it was not "
          "installed from the sensor-gateway image. Update it with `git pull` and "
          "`sudo deploy/install.sh` in the gateway's source directory, or flash the new "
          "image and restore a backup onto it (README: Updating)")


class UpdateError(Exception):
    """An update cannot be checked, installed or read; the text is for the user."""


class RaucMissing(UpdateError):
    """RAUC is not on this system: it is not an A/B system."""


@dataclass(frozen=True)
class BundleInfo:
    """What a bundle's signed manifest says."""

    compatible: str
    version: str | None


@dataclass(frozen=True)
class Slot:
    """One root file system slot as RAUC's service sees it."""

    name: str  # RAUC's slot name, e.g. rootfs.1
    bootname: str  # the boot loader's name for it, e.g. B
    boot_status: str | None  # good or bad, as the boot loader will treat it
    version: str | None  # of the bundle RAUC last wrote there (None: never written by RAUC)


@dataclass(frozen=True)
class SystemStatus:
    """RAUC's view of the system: what it is, which slot runs, which boots next."""

    compatible: str
    booted: str  # bootname of the running slot
    primary: str | None  # bootname of the slot the next boot starts
    slots: list[Slot] = field(default_factory=list)

    def other(self) -> Slot | None:
        """The root slot that is not running."""
        return next((s for s in self.slots if s.bootname != self.booted), None)


Progress = Callable[[int, str], None]


class Rauc:
    """RAUC's command line; ``conf`` overrides ``/etc/rauc/system.conf`` (a test system)."""

    def __init__(self, conf: Path | None = None, binary: str = "rauc") -> None:
        self.conf = conf
        self.binary = binary

    def require(self) -> None:
        """Raise RaucMissing unless RAUC and its system config are here."""
        if shutil.which(self.binary) is None or not (self.conf or SYSTEM_CONF).is_file():
            raise RaucMissing(NOT_AB)

    def _argv(self, *args: str) -> list[str]:
        conf = [f"--conf={self.conf}"] if self.conf else []
        return [self.binary, *conf, *args]

    def info(self, bundle: Path) -> BundleInfo:
        """Check ``bundle``'s signature with the system's keyring and read its manifest."""
        self.require()
        result = subprocess.run(self._argv("info", "--output-format=json", str(bundle)),
                                capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise UpdateError(_info_error(bundle, result.stderr))
        try:
            manifest = json.loads(result.stdout)
        except ValueError:
            raise UpdateError(f"{bundle}: RAUC printed no manifest: {result.stdout[:200]}") from None
        return BundleInfo(str(manifest.get("compatible")), manifest.get("version"))

    def status(self) -> SystemStatus:
        """Ask RAUC's service for the slots and their states."""
        self.require()
        result = subprocess.run(self._argv("status", "--detailed", "--output-format=json"),
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise UpdateError("RAUC's service does not answer (is rauc.service running? "
                              f"`systemctl status rauc`): {_last_line(result.stderr)}")
        return parse_status(json.loads(result.stdout))

    def install(self, bundle: Path, progress: Progress) -> None:
        """Install ``bundle`` into the other slot and make it the next boot's, telling
        ``progress`` (percent, step) as RAUC goes."""
        self.require()
        proc = subprocess.Popen(self._argv("install", str(bundle)), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        last_error = ""
        lines: list[str] = []
        for line in proc.stdout:
            line = line.rstrip("\n")
            lines.append(line)
            step = _PROGRESS.match(line)
            if step:
                progress(int(step.group(1)), step.group(2))
            elif line.startswith("LastError: "):
                last_error = line.removeprefix("LastError: ")
        if proc.wait() != 0:
            output = "\n".join(lines)
            raise UpdateError(_install_error(bundle, last_error or _last_line(output), output))

    def mark(self, good: bool) -> list[str]:
        """Mark the running slot good (or bad: the next boot starts the other one)."""
        argv = self._argv("status", "mark-good" if good else "mark-bad", "booted")
        subprocess.run(argv, check=True, timeout=60)
        return argv


def parse_status(data: dict[str, Any]) -> SystemStatus:
    """``rauc status --detailed --output-format=json`` as a SystemStatus."""
    slots = []
    primary = None
    for entry in data.get("slots") or []:
        for name, slot in entry.items():
            if slot.get("class") != "rootfs" or slot.get("parent"):
                continue
            bundle = (slot.get("slot_status") or {}).get("bundle") or {}
            slots.append(Slot(name, str(slot.get("bootname")), slot.get("boot_status"),
                              bundle.get("version")))
            if name == data.get("boot_primary"):
                primary = str(slot.get("bootname"))
    slots.sort(key=lambda s: s.bootname)
    return SystemStatus(str(data.get("compatible")), str(data.get("booted")), primary, slots)


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip() and "rauc-Message" not in line]
    return lines[-1].strip() if lines else "no output"


def _info_error(bundle: Path, stderr: str) -> str:
    detail = _last_line(stderr)
    if "signature verification failed" in stderr:
        return (f"{bundle} is not signed with this gateway's update key ({detail}): it was "
                "made for other gateways, or damaged")
    if "No such file" in stderr:
        return f"{bundle} does not exist"
    if "Invalid bundle format" in stderr or "bundle" in detail.lower():
        return f"{bundle} is not an update bundle (a .raucb file from `make image`): {detail}"
    return f"{bundle} was refused: {detail}"


def _install_error(bundle: Path, detail: str, output: str) -> str:
    if "Already processing" in output:
        return "an update is already running"
    if "Compatible mismatch" in detail:
        return f"{bundle} is not for this system: {detail}"
    return f"installing {bundle} failed: {detail}"
