"""A broker in a subprocess, so its memory can be read from /proc."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.processes import OurBroker


@pytest.fixture
def small_queue_broker(tmp_path: Path) -> Iterator[OurBroker]:
    broker = OurBroker(log_path=tmp_path / "broker.log", args=[
        "--log-level", "warning",
        "--max-queued-messages", "1000", "--max-queued-bytes", "1000000", "--sys-interval", "1",
    ])  # fmt: skip
    broker.start()
    yield broker
    broker.stop()
