"""The interface between the gateway runtime and a broker.

Everything is called on the event loop thread, and callbacks run there too. A bus keeps
its subscriptions across reconnects and tells the runtime each time it is (re)connected, so
the runtime can publish its state again (a broker restarted without persistence has lost
every retained value). The bus owns the gateway status topic: ``online`` when connected,
``offline`` on a clean stop and, where the transport allows, as its last will.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

ONLINE = "online"
OFFLINE = "offline"


@dataclass(frozen=True)
class InboundMessage:
    """A message delivered to a subscription."""

    topic: str
    payload: bytes
    retain: bool


MessageCallback = Callable[[InboundMessage], None]


class Subscription(ABC):
    """Handle returned by :meth:`Bus.subscribe`."""

    @abstractmethod
    def cancel(self) -> None:
        """Stop delivering to this callback."""


class Bus(ABC):
    """Publish/subscribe for the runtime; knows the gateway's status topic."""

    def __init__(self, status_topic: str) -> None:
        self.status_topic = status_topic
        self._connected_callbacks: list[Callable[[], None]] = []

    def on_connected(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after every (re)connection, once the status is online."""
        self._connected_callbacks.append(callback)

    def _run_connected_callbacks(self) -> None:
        for callback in list(self._connected_callbacks):
            callback()

    @abstractmethod
    async def start(self) -> None:
        """Connect (or attach) and publish ``online``; returns once connected the first
        time, or raises."""

    @abstractmethod
    async def stop(self) -> None:
        """Publish ``offline`` and disconnect."""

    @abstractmethod
    def publish(self, topic: str, payload: str | bytes, retain: bool = False,
                qos: int = 0) -> None:
        """Publish; silently dropped while disconnected (state is re-published on
        reconnect)."""

    @abstractmethod
    def subscribe(self, topic_filter: str, callback: MessageCallback) -> Subscription:
        """Deliver matching messages (retained ones included) to ``callback``."""
