"""Runs firmware/Makefile for the tests: gwlink's host unit tests, the ESP8266 size report."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
CPP_TESTS = sorted(p.stem for p in (Path(__file__).parent / "cpp").glob("test_*.cpp"))

# Size figures printed at the end of the run by conftest's pytest_terminal_summary.
size_reports: list[str] = []


def make(build: Path, *targets: str) -> subprocess.CompletedProcess[str]:
    """Runs firmware/Makefile into `build`; fails the test with the compiler's output."""
    proc = subprocess.run(
        ["make", "-s", "-C", str(FIRMWARE), f"BUILD={build}", *targets],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        pytest.fail(f"make {' '.join(targets)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc
