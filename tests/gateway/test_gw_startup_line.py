"""The start-up line names the listeners that are actually open."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory
from gw_helpers import free_port

from gateway.config import parse_config
from gateway.hardware import Hardware
from gateway.serve import RunOptions, run


def test_start_up_line_names_the_open_listeners(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    tcp, ws = free_port(), free_port()
    config = parse_config(
        f'[gateway]\nhardware = "simulated"\n[serial]\nenabled = false\n'
        f'[[broker.listeners]]\nkind = "tcp"\nhost = "127.0.0.1"\nport = {tcp}\n'
        f'[[broker.listeners]]\nkind = "ws"\nhost = "127.0.0.1"\nport = {ws}\n',
        str(tmp_path / "gateway.toml"))

    async def scenario() -> None:
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(run(config, RunOptions(data_dir=str(tmp_path / "state")),
                                       stop, Hardware(simulated=True, pin_factory=MockFactory()),
                                       on_ready=ready.set))
        await asyncio.wait_for(ready.wait(), 60)
        stop.set()
        await asyncio.wait_for(task, 30)

    with caplog.at_level(logging.INFO, logger="gateway.serve"):
        asyncio.run(scenario())
    line = next(r.getMessage() for r in caplog.records if "gateway running" in r.getMessage())
    assert f"embedded broker on tcp 127.0.0.1:{tcp}, ws 127.0.0.1:{ws}" in line, line
    assert "0.0.0.0" not in line
