"""Fixtures of the firmware tests: one private build directory per test session."""

from __future__ import annotations

from pathlib import Path

import pytest
from fwbuild import size_reports


@pytest.fixture(scope="session")
def firmware_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private build directory, so parallel runs by other engineers never collide."""
    return tmp_path_factory.mktemp("firmware-build")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in size_reports:
        terminalreporter.write_line(line)
