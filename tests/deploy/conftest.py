"""Fixtures for the deploy tests: a scratch boot partition and root filesystem."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.firstboot.system import Host


@pytest.fixture
def boot(tmp_path: Path) -> Path:
    """An empty directory standing in for the FAT boot partition."""
    path = tmp_path / "boot"
    path.mkdir()
    return path


@pytest.fixture
def host(tmp_path: Path) -> Host:
    """A scratch root filesystem; commands are recorded, never run."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n127.0.1.1\tsensor-gateway\n")
    return Host(root)
