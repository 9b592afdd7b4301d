"""Binary outputs: commands from home/<room>/<name>/set, state echoed retained.

A retained command is never obeyed: it may be days old (someone published with the retain
flag), and replaying it at every start would switch a heater on unasked. It is cleared
from the broker instead, and the boot state decides.
"""

from __future__ import annotations

import asyncio
import logging

from gateway.bus.base import Bus, InboundMessage, Subscription
from gateway.drivers.base import OutputDevice
from gateway.runtime.channel import ChannelPublisher

log = logging.getLogger(__name__)

_ON = {"on", "1", "true"}
_OFF = {"off", "0", "false"}
_TOGGLE = {"toggle"}

#: how long "restore" waits for the broker to hand back the retained state
RESTORE_WAIT = 2.0


def parse_command(payload: bytes, current: bool) -> bool | None:
    """ON/OFF, 1/0, true/false (any case) and TOGGLE; None when not a command."""
    text = payload.decode("utf-8", errors="replace").strip().lower()
    if text in _ON:
        return True
    if text in _OFF:
        return False
    if text in _TOGGLE:
        return not current
    return None


class OutputRunner:
    """Connects one output device to its command and state topics."""

    def __init__(self, bus: Bus, device: OutputDevice, publisher: ChannelPublisher) -> None:
        self.bus = bus
        self.device = device
        self.publisher = publisher
        self.boot_state = device.boot_state
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        """Set the boot state, publish it, then accept commands."""
        if self.boot_state == "restore":
            state = await self._retained_state()
        else:
            state = self.boot_state == "on"
        self._apply(state)
        topic = self.publisher.topics.command
        assert topic is not None  # outputs always have a command topic
        self._subscription = self.bus.subscribe(topic, self._on_command)

    async def _retained_state(self) -> bool:
        """The state this gateway last published, if the broker kept it; else off."""
        found: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def on_state(message: InboundMessage) -> None:
            if message.retain and not found.done():
                found.set_result(parse_command(message.payload, False) is True)

        subscription = self.bus.subscribe(self.publisher.topics.state, on_state)
        try:
            async with asyncio.timeout(RESTORE_WAIT):
                return await found
        except TimeoutError:
            log.info("%s: no retained state to restore; starting off",
                     self.publisher.topics.state)
            return False
        finally:
            subscription.cancel()

    def _on_command(self, message: InboundMessage) -> None:
        if message.retain:
            if message.payload:
                log.warning("ignored a retained command on %s (commands must not be "
                            "retained); clearing it", message.topic)
                self.bus.publish(message.topic, b"", retain=True)
            return
        command = parse_command(message.payload, self.device.is_on())
        if command is None:
            if message.payload:
                log.warning("ignored %r on %s: send ON, OFF, 1, 0, true, false or TOGGLE",
                            message.payload[:40], message.topic)
            # Echo the real state so a UI that switched optimistically snaps back.
            self.publisher.republish()
            return
        self._apply(command)

    def _apply(self, on: bool) -> None:
        self.device.set(on)
        self.publisher.offer(self.device.is_on())

    def close(self) -> None:
        """Stop taking commands and release the pin (gpiozero turns it off)."""
        if self._subscription is not None:
            self._subscription.cancel()
        self.device.close()
