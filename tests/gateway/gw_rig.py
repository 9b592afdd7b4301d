"""A gateway on the real broker engine (gw_helpers.EngineBus) with the hardware a test wired, for the driver tests:
start it from a config, then drive each sensor's poll loop one interval at a time."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gw_helpers import TIMEOUT, EngineBus
from support.clock import SleepClock

from gateway.config import ConfigErrors, parse_config
from gateway.hardware import Hardware
from gateway.runtime.app import Gateway
from gateway.runtime.polled import PolledRunner


@dataclass
class Rig:
    """A started gateway whose poll loops the test drives itself."""

    gateway: Gateway
    bus: EngineBus
    clock: SleepClock

    def runner(self, key: str) -> PolledRunner:
        """The poll loop of the sensor defined at ``key`` (``room.kitchen[0]``)."""
        (runner,) = [r for r in self.gateway.polled if r.name == key]
        return runner

    def discovery(self, topic: str) -> dict[str, Any]:
        """The retained discovery config at ``topic``."""
        return json.loads(self.bus.retained[topic])

    def last(self, topic: str) -> str | None:
        """The last payload published to ``topic``."""
        values = self.bus.values(topic)
        return values[-1] if values else None


async def start(text: str, tmp_path: Path, hardware: Hardware,
                retained: dict[str, bytes] | None = None) -> Rig:
    """Start a gateway for config ``text``, on a bus already holding ``retained``; its poll
    loops do not run by themselves."""
    clock = SleepClock()
    config = parse_config(text)
    bus = EngineBus(config.gateway.status_topic)
    for topic, payload in (retained or {}).items():
        bus.inject(topic, payload, retain=True)
    gateway = Gateway(config, bus, hardware, tmp_path, clock=clock)
    await bus.start()
    await gateway.start()
    for task in gateway._tasks:
        task.cancel()
    return Rig(gateway, bus, clock)


def config_errors(text: str) -> list[str]:
    """The messages parse_config raises for ``text`` (empty when it is valid)."""
    try:
        parse_config(text, "test.toml")
    except ConfigErrors as exc:
        return [str(e) for e in exc.errors]
    return []


async def wait_until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Poll ``condition`` until it holds (real time: hardware threads run on their own)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
