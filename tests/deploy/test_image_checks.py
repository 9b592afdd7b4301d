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


UNITS = "[  OK  ] Finished systemd-fsck@dev-disk-by\\x2dlabel-GWDATA.service.\n" \
    "[  OK  ] Started sensor-gateway.service."


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
    mod.start_qemu("virt", tmp_path / "disk.img", mod.Ports(1883, 8080, 2222), tmp_path / "serial.log")
    (argv,) = started
    nic = next(arg for arg in argv if arg.startswith("virtio-net-pci"))
    assert "romfile=" in nic.split(",")


def test_a_data_partition_not_checked_is_a_problem() -> None:
    log = "RASPIROOT: clean, 28211/98304 files, 230000/393216 blocks\n[  OK  ] Started ssh.service."
    assert image_test().serial_problems(log) == ["missing: the data partition's check (systemd-fsck)"]


def test_a_failed_unit_on_the_console_is_a_problem() -> None:
    log = "RASPIROOT: clean, 1/2 files\n" + UNITS + "\n[FAILED] Failed to start avahi-daemon.service."
    assert image_test().serial_problems(log) == ["[FAILED] Failed to start avahi-daemon.service."]


def test_the_console_is_cut_into_boots_and_slots() -> None:
    """A reboot keeps writing the same console log: each boot starts at U-Boot's banner."""
    log = ("U-Boot 2023.01+dfsg-2+deb12u3\nsensor-gateway: booting slot A (attempts left: A 2, B 3)\n"
           "Reached target multi-user.target\n"
           "U-Boot 2023.01+dfsg-2+deb12u3\nsensor-gateway: booting slot B (attempts left: A 3, B 2)\n")
    mod = image_test()
    assert [mod.booted_slots(part) for part in mod.boots(log)] == [["A"], ["B"]]
    assert mod.booted_slots(log) == ["A", "B"]
    assert mod.MULTI_USER not in mod.boots(log)[-1]


def test_test_bundles_raise_the_version() -> None:
    assert image_test().bumped("0.1.0", 1) == "0.1.1"
    assert image_test().bumped("0.1.0", 2) == "0.1.2"
    assert image_test().bumped("1.0rc1", 1) == "1.0rc1.1"
