"""Bridges from the local broker to upstream brokers, configured like Mosquitto's."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .config import BridgeConfig, BridgeConfigError, TopicRule, load_bridges
from .link import Bridge

if TYPE_CHECKING:
    from ..server.app import Broker

__all__ = ["Bridge", "BridgeConfig", "BridgeConfigError", "TopicRule", "load_bridges", "start_bridges"]


def start_bridges(broker: Broker, config_file: str | Path) -> list[Bridge]:
    """Start every bridge of ``config_file`` on ``broker`` (call on its loop, after start)."""
    data_dir = Path(broker.config.data_dir) if broker.config.data_dir else None
    bridges = [Bridge(broker, cfg, data_dir) for cfg in load_bridges(config_file)]
    for bridge in bridges:
        bridge.start()
    return bridges
