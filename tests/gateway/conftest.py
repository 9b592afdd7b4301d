"""Fixtures for the gateway tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory
from support.lanloop import lan_loop  # noqa: F401  (a fixture: async clients on the LAN)
from support.processes import Mosquitto, OurBroker, ServerProcess
from support.rauc_system import rauc_system, update_bundles  # noqa: F401  (update fixtures)


@pytest.fixture
def pin_factory() -> Iterator[MockFactory]:
    """A fresh gpiozero MockFactory, passed to the drivers (never the global default)."""
    factory = MockFactory()
    yield factory
    factory.reset()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """Debian's mosquitto on a free port, as an external broker."""
    if shutil.which("mosquitto") is None:
        pytest.fail("mosquitto is not installed (deploy/dev-deps.sh installs it)")
    server = Mosquitto(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["mosquitto", "ours"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    """An external broker the gateway reaches over TCP: Debian's mosquitto, and ours run
    alone, so the paho path is checked against both."""
    if request.param == "mosquitto":
        if shutil.which("mosquitto") is None:
            pytest.fail("mosquitto is not installed (deploy/dev-deps.sh installs it)")
        server: ServerProcess = Mosquitto(tmp_path)
    else:
        server = OurBroker(args=["--sys-interval", "0"])
    server.start()
    yield server
    server.stop()
