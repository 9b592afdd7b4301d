"""The bus the gateway publishes to: the embedded broker in-process, or paho-mqtt."""

from gateway.bus.base import Bus, InboundMessage, Subscription

__all__ = ["Bus", "InboundMessage", "Subscription"]
