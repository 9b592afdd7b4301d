"""`make run` sets up what running needs and no more; the package builds without warnings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEST_TOOLS = {"chromium", "gcc-xtensa-lx106", "picolibc-xtensa-lx106-elf", "shellcheck",
              "mosquitto", "nodejs", "socat"}


def packages(kind: str) -> set[str]:
    out = subprocess.run(["bash", str(REPO / "deploy/dev-deps.sh"), "--list", kind],
                         capture_output=True, text=True, check=True, timeout=30).stdout
    return set(out.split())


def test_run_set_has_no_test_tools() -> None:
    run, test = packages("run"), packages("test")
    assert run and not run & TEST_TOOLS
    assert run < test and TEST_TOOLS <= test


def test_make_run_installs_only_the_run_set(tmp_path: Path) -> None:
    # A fresh venv path: make prints every step `make run` would take on a new machine.
    plan = subprocess.run(["make", "-n", "run", f"VENV={tmp_path / 'venv'}"], cwd=REPO,
                          capture_output=True, text=True, check=True, timeout=60).stdout
    assert "dev-deps.sh run" in plan
    assert "dev-deps.sh test" not in plan and "[test]" not in plan
    test_plan = subprocess.run(["make", "-n", "test", f"VENV={tmp_path / 'venv'}"], cwd=REPO,
                               capture_output=True, text=True, check=True, timeout=60).stdout
    assert "dev-deps.sh test" in test_plan and "[test]" in test_plan


def test_package_builds_without_warnings(tmp_path: Path) -> None:
    """What `pip install -e .` runs, with our pyproject: no deprecation or other warning."""
    result = subprocess.run(
        [sys.executable, "-c",
         f"from setuptools import build_meta as b; b.build_editable({str(tmp_path)!r})"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "Warning" not in output and "deprecated" not in output, output
