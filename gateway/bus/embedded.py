"""The bus on top of the embedded broker: publish and subscribe are plain calls into the
broker's router (docs/contracts.md), no encoding, no socket."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.bus.base import OFFLINE, ONLINE, Bus, InboundMessage, MessageCallback, Subscription

if TYPE_CHECKING:
    from broker import Broker, Message


class _BrokerSubscription(Subscription):
    def __init__(self, handle: object) -> None:
        self._handle = handle

    def cancel(self) -> None:
        self._handle.cancel()  # type: ignore[attr-defined]


class EmbeddedBus(Bus):
    """Drivers and broker share one process and one event loop."""

    def __init__(self, broker: Broker, status_topic: str) -> None:
        super().__init__(status_topic)
        self.broker = broker

    async def start(self) -> None:
        self.publish(self.status_topic, ONLINE, retain=True, qos=1)
        self._run_connected_callbacks()

    async def stop(self) -> None:
        self.publish(self.status_topic, OFFLINE, retain=True, qos=1)

    def publish(self, topic: str, payload: str | bytes, retain: bool = False,
                qos: int = 0) -> None:
        self.broker.publish(topic, payload, qos=qos, retain=retain)

    def subscribe(self, topic_filter: str, callback: MessageCallback) -> Subscription:
        def deliver(message: Message) -> None:
            callback(InboundMessage(message.topic, bytes(message.payload), message.retain))

        return _BrokerSubscription(self.broker.subscribe(topic_filter, deliver))
