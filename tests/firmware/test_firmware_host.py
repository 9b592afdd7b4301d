"""The portable link library, compiled with g++ (ASan + UBSan) and unit-tested on the host."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fwbuild import CPP_TESTS, make


@pytest.mark.parametrize("name", CPP_TESTS)
def test_cpp_unit_tests(firmware_build: Path, name: str) -> None:
    make(firmware_build, str(firmware_build / name))
    proc = subprocess.run(
        [str(firmware_build / name)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " 0 failed checks" in proc.stdout
    assert "FAIL" not in proc.stdout


def test_cpp_harness_reports_failures(tmp_path: Path) -> None:
    """The harness itself must fail when a check fails, or the tests above prove nothing."""
    src = tmp_path / "test_broken.cpp"
    header = Path(__file__).parent / "cpp" / "check.h"
    src.write_text(f'#include "{header}"\nTEST(broken) {{ CHECK_EQ(1 + 1, 3); }}\n')
    exe = tmp_path / "broken"
    subprocess.run(["g++", "-std=c++11", str(src), "-o", str(exe)], check=True, timeout=300)
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "FAIL broken" in proc.stdout
    assert "(2 != 3)" in proc.stderr
