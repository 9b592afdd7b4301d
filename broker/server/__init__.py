"""The I/O shell: asyncio listeners and transports around the sans-IO engine."""

from .app import Broker

__all__ = ["Broker"]
