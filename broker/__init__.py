"""An embedded MQTT 3.1 / 3.1.1 / 5.0 broker for the sensor gateway."""

__version__ = "0.1.0"

from .config import BrokerConfig  # noqa: E402
from .engine.message import Message  # noqa: E402
from .server.app import Broker  # noqa: E402

__all__ = ["Broker", "BrokerConfig", "Message", "__version__"]
