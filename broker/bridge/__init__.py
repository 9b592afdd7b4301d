"""Bridges from the local broker to upstream brokers, configured like Mosquitto's."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .config import BridgeConfig, BridgeConfigError, TopicRule, load_bridges
from .link import Bridge, LocalBroker

__all__ = [
    "Bridge",
    "BridgeConfig",
    "BridgeConfigError",
    "LocalBroker",
    "TopicRule",
    "load_bridges",
    "start_bridges",
    "stop_bridges",
]


def start_bridges(broker: LocalBroker, config_file: str | Path) -> list[Bridge]:
    """Start every bridge of ``config_file`` on ``broker`` (call on its loop, after start).

    Raises ValueError (BridgeConfigError) for a bad file, before any bridge starts.
    """
    data_dir = Path(broker.config.data_dir) if broker.config.data_dir else None
    bridges = [Bridge(broker, cfg, data_dir) for cfg in load_bridges(config_file)]
    for bridge in bridges:
        bridge.start()
    return bridges


async def stop_bridges(bridges: Iterable[Bridge]) -> None:
    """Disconnect the bridges; what they have not forwarded stays in their backlogs."""
    for bridge in bridges:
        await bridge.stop()
