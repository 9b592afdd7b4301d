"""Fixtures of the serial tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.ptycable import PtyCable


@pytest.fixture
def cable(tmp_path: Path) -> Iterator[PtyCable]:
    """A pseudo-terminal cable at ``tmp_path/node0``; the test plays the node."""
    cable = PtyCable(tmp_path / "node0")
    yield cable
    cable.close()
