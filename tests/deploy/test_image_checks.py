"""The QEMU image test's reading of the serial console (deploy/image/image_test.py), checked
on console lines of the kind the boot prints, so a skipped root check fails `make image-test`."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def image_test() -> ModuleType:
    spec = importlib.util.spec_from_file_location("image_test", REPO / "deploy/image/image_test.py")
    assert spec is not None and spec.loader is not None
    module = sys.modules.get("image_test")
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules["image_test"] = module  # its dataclasses look themselves up there
        spec.loader.exec_module(module)
    return module


UNITS = "\n".join(f"[  OK  ] {text}." for text in image_test().EXPECTED)


def test_a_boot_that_checked_the_root_has_no_problem() -> None:
    log = "Begin: Will now check root file system ... fsck from util-linux 2.38.1\n" \
          "RASPIROOT: clean, 28211/98304 files, 230000/393216 blocks\ndone.\n" + UNITS
    assert image_test().serial_problems(log) == []


def test_a_skipped_root_check_is_a_problem() -> None:
    log = "Warning: fsck not present, so skipping root file system\n" + UNITS
    problems = image_test().serial_problems(log)
    assert problems == ["Warning: fsck not present, so skipping root file system",
                        "missing: the root file system check (RASPIROOT: clean)"]


def test_qemu_needs_no_network_boot_rom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Debian's qemu-system-arm without its recommends has no efi-virtio.rom; QEMU refuses a
    virtio-net-pci device that asks for one."""
    mod = image_test()
    started: list[list[str]] = []

    class Recorder:
        def __init__(self, argv: list[str], **kwargs: object) -> None:
            started.append(argv)

    monkeypatch.setattr(mod.subprocess, "Popen", Recorder)
    mod.start_qemu("virt", tmp_path / "disk.img", tmp_path / "vmlinuz", tmp_path / "initrd",
                   1883, 8080, tmp_path / "serial.log")
    (argv,) = started
    nic = next(arg for arg in argv if arg.startswith("virtio-net-pci"))
    assert "romfile=" in nic.split(",")
