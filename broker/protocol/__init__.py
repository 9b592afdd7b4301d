"""The MQTT protocol codec: bytes <-> packet objects for 3.1, 3.1.1 and 5.0 (sans-IO)."""

from .codec import Decoder, encode
from .connect import UnsupportedProtocolVersion
from .packets import *  # noqa: F403
from .wire import MalformedPacket, MQTTError, PacketTooLarge, ProtocolError

__all__ = [
    "Decoder",
    "encode",
    "MQTTError",
    "MalformedPacket",
    "PacketTooLarge",
    "ProtocolError",
    "UnsupportedProtocolVersion",
]
