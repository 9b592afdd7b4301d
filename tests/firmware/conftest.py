"""Fixtures of the firmware tests: one private build directory per test session."""

from __future__ import annotations

from pathlib import Path

import pytest
from fwbuild import size_reports


@pytest.fixture(scope="session")
def firmware_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private build directory, so parallel runs by other engineers never collide."""
    return tmp_path_factory.mktemp("firmware-build")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The first run on a machine compiles the ESP8266 core's emulation (about 2 minutes
    # idle, longer on a loaded machine) inside the first test that needs it.
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.timeout(1800))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in size_reports:
        terminalreporter.write_line(line)
