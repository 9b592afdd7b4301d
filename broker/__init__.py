"""An embedded MQTT 3.1 / 3.1.1 / 5.0 broker for the sensor gateway.

Importing the package (or its sans-IO parts, :mod:`broker.protocol` and
:mod:`broker.engine`) loads no I/O: :class:`Broker`, the asyncio server, is imported on
first use of ``broker.Broker``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from .config import BrokerConfig  # noqa: E402
from .engine.message import Message  # noqa: E402

if TYPE_CHECKING:
    from .server.app import Broker

__all__ = ["Broker", "BrokerConfig", "Message", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Broker":
        from .server.app import Broker

        return Broker
    raise AttributeError(f"module 'broker' has no attribute {name!r}")
