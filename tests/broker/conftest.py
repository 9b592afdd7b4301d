"""Fixtures for the broker conformance suite.

Every test gets brokers of its own on free ports of 127.0.0.1: ``broker`` runs in this
process on a background event loop (fresh state, starts in milliseconds); ``broker_process``
runs ``python -m broker`` as a user would, shared by the tests that only need a working
broker. Clients made by ``raw`` and ``paho`` are closed after the test.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.pahoclient import PahoClient
from support.processes import OurBroker
from support.rawmqtt import RawClient
from support.threadbroker import ThreadBroker

DENIED = "test/nosubscribe"

_topic_ids = itertools.count(1)


@pytest.fixture
def make_broker() -> Iterator[Callable[..., ThreadBroker]]:
    """Start in-process brokers with BrokerConfig settings: ``make_broker(max_keepalive=2)``."""
    started: list[ThreadBroker] = []

    def start(**settings: Any) -> ThreadBroker:
        settings.setdefault("deny_subscribe", [DENIED])
        b = ThreadBroker(**settings).start()
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


@pytest.fixture
def broker(make_broker: Callable[..., ThreadBroker]) -> ThreadBroker:
    """A fresh in-process broker with default settings (and ``test/nosubscribe`` denied)."""
    return make_broker()


@pytest.fixture
def make_broker_process(tmp_path: Path) -> Iterator[Callable[..., OurBroker]]:
    """Start ``python -m broker`` with extra CLI options: ``make_broker_process("--sys-interval", "1")``."""
    started: list[OurBroker] = []

    def start(*options: str) -> OurBroker:
        b = OurBroker(log_path=tmp_path / f"broker-{len(started)}.log", args=options).start()
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


@pytest.fixture(scope="session")
def broker_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OurBroker]:
    """One ``python -m broker --deny-subscribe test/nosubscribe`` shared by the session."""
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    b = OurBroker(log_path=log, args=["--deny-subscribe", DENIED, "--log-level", "warning"])
    b.start()
    yield b
    b.stop()


@pytest.fixture
def topic(request: pytest.FixtureRequest) -> str:
    """A topic prefix no other test uses (brokers may be shared)."""
    # Parameter ids may hold wildcards or "/": keep only harmless characters.
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
    return f"t{next(_topic_ids)}/{name}"


@pytest.fixture
def raw(request: pytest.FixtureRequest) -> Iterator[Callable[..., RawClient]]:
    """Open raw-socket clients: ``raw(version=5)`` to ``broker``, or ``raw(5, port=p)``."""
    clients: list[RawClient] = []

    def open_client(version: int = 4, port: int | None = None) -> RawClient:
        if port is None:
            port = request.getfixturevalue("broker").port
        c = RawClient(port, version)
        clients.append(c)
        return c

    yield open_client
    for c in clients:
        c.close()


@pytest.fixture
def connected(raw: Callable[..., RawClient]) -> Callable[..., RawClient]:
    """Raw clients already connected: ``connected(5, client_id="x", properties={...})``."""

    def open_client(version: int = 4, port: int | None = None, **connect: Any) -> RawClient:
        c = raw(version, port)
        c.connect(**connect)
        return c

    return open_client


@pytest.fixture
def paho(request: pytest.FixtureRequest) -> Iterator[Callable[..., PahoClient]]:
    """Connected paho clients: ``paho(version=5, client_id=..., clean=..., port=...)``.

    Extra keyword arguments go to :meth:`PahoClient.connect`; the CONNACK is in ``.connack``.
    """
    clients: list[PahoClient] = []

    def open_client(
        version: int = 4,
        port: int | None = None,
        client_id: str | None = None,
        clean: bool = True,
        **connect: Any,
    ) -> PahoClient:
        if port is None:
            port = request.getfixturevalue("broker").port
        c = PahoClient(port, version, client_id, clean)
        clients.append(c)
        c.connect(**connect)
        return c

    yield open_client
    for c in clients:
        c.disconnect()
