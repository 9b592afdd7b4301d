"""One channel on the bus: filtered values to its retained state topic, its availability
flag, and a heartbeat timer."""

from __future__ import annotations

import asyncio

from gateway.bus.base import OFFLINE, ONLINE, Bus
from gateway.config.model import Filters
from gateway.drivers.base import Channel, Value
from gateway.filters import FilterChain, format_value
from gateway.runtime.clock import Clock
from gateway.topics import ChannelTopics


class ChannelPublisher:
    """Publishes one channel's values retained; remembers the last payloads so everything
    can be published again after a reconnect."""

    def __init__(self, bus: Bus, channel: Channel, topics: ChannelTopics, filters: Filters,
                 clock: Clock) -> None:
        self.bus = bus
        self.channel = channel
        self.topics = topics
        self.clock = clock
        self.chain = FilterChain(filters, changes_only=not channel.numeric)
        self.payload: str | None = None
        self.available: bool | None = None
        self._beat: asyncio.TimerHandle | None = None

    def offer(self, value: Value) -> None:
        """A new reading; published if the filters let it through."""
        out = self.chain.feed(value, self.clock.now())
        if out is not None:
            self._publish(out)

    def set_available(self, available: bool) -> None:
        """Publish the channel's availability when it changes."""
        if self.topics.availability is None or available == self.available:
            return
        self.available = available
        self.bus.publish(self.topics.availability, ONLINE if available else OFFLINE,
                         retain=True)

    def republish(self) -> None:
        """Publish the last state and availability again (after a reconnect)."""
        if self.topics.availability is not None and self.available is not None:
            self.bus.publish(self.topics.availability,
                             ONLINE if self.available else OFFLINE, retain=True)
        if self.payload is not None:
            self.bus.publish(self.topics.state, self.payload, retain=True)

    def close(self) -> None:
        """Stop the heartbeat timer."""
        if self._beat is not None:
            self._beat.cancel()
            self._beat = None

    def _publish(self, value: Value) -> None:
        self.payload = format_value(value, self.channel.precision)
        self.bus.publish(self.topics.state, self.payload, retain=True)
        self._arm_heartbeat()

    def _arm_heartbeat(self) -> None:
        period = self.chain.filters.heartbeat
        if period is None:
            return
        if self._beat is not None:
            self._beat.cancel()
        self._beat = asyncio.get_running_loop().call_later(period, self._heartbeat)

    def _heartbeat(self) -> None:
        self._beat = None
        out = self.chain.heartbeat(self.clock.now())
        if out is not None:
            self._publish(out)
        else:
            self._arm_heartbeat()
