"""Outputs: commands from home/<room>/<name>/set, state echoed retained. Binary outputs
take ON/OFF; level outputs (PWM) take 0-100 %.

A retained command is never obeyed: it may be days old (someone published with the retain
flag), and replaying it at every start would switch a heater on unasked. It is cleared
from the broker instead, and the boot state decides.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from gateway.bus.base import Bus, InboundMessage, Subscription
from gateway.drivers.base import LevelOutputDevice, OutputDevice
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


def parse_level(payload: bytes, current: float, last_on: float) -> float | None:
    """0-100 (a trailing % allowed), or ON (back to ``last_on``), OFF, TOGGLE and the other
    binary words; None when not a command."""
    text = payload.decode("utf-8", errors="replace").strip().rstrip("%").strip()
    try:
        value = float(text)
    except ValueError:
        on = parse_command(payload, current > 0)
        return None if on is None else (last_on if on else 0.0)
    return value if 0.0 <= value <= 100.0 else None


class OutputRunner:
    """Connects one output device to its command and state topics."""

    #: the commands named when an unknown one arrives
    COMMANDS = "ON, OFF, 1, 0, true, false or TOGGLE"

    @staticmethod
    def for_device(bus: Bus, device: OutputDevice | LevelOutputDevice,
                   publisher: ChannelPublisher) -> OutputRunner:
        """The runner for ``device``: ON/OFF, or 0-100 % for a level output."""
        if isinstance(device, LevelOutputDevice):
            return LevelOutputRunner(bus, device, publisher)
        return OutputRunner(bus, device, publisher)

    def __init__(self, bus: Bus, device: Any, publisher: ChannelPublisher) -> None:
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
            state = self._boot_value(self.boot_state == "on")
        self._apply(state)
        topic = self.publisher.topics.command
        assert topic is not None  # outputs always have a command topic
        self._subscription = self.bus.subscribe(topic, self._on_command)

    def _boot_value(self, on: bool) -> Any:
        return on

    def _restored(self, payload: bytes) -> Any:
        """The state in a retained state message."""
        return parse_command(payload, False) is True

    def _parse(self, payload: bytes) -> Any:
        """The state a command asks for, None when it is not a command."""
        device: OutputDevice = self.device
        return parse_command(payload, device.is_on())

    async def _retained_state(self) -> Any:
        """The state this gateway last published, if the broker kept it; else off."""
        found: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def on_state(message: InboundMessage) -> None:
            if message.retain and not found.done():
                found.set_result(self._restored(message.payload))

        subscription = self.bus.subscribe(self.publisher.topics.state, on_state)
        try:
            async with asyncio.timeout(RESTORE_WAIT):
                return await found
        except TimeoutError:
            log.info("%s: no retained state to restore; starting off",
                     self.publisher.topics.state)
            return self._boot_value(False)
        finally:
            subscription.cancel()

    def _on_command(self, message: InboundMessage) -> None:
        if message.retain:
            if message.payload:
                log.warning("ignored a retained command on %s (commands must not be "
                            "retained); clearing it", message.topic)
                self.bus.publish(message.topic, b"", retain=True)
            return
        command = self._parse(message.payload)
        if command is None:
            if message.payload:
                log.warning("ignored %r on %s: send %s", message.payload[:40], message.topic,
                            self.COMMANDS)
            # Echo the real state so a UI that switched optimistically snaps back.
            self.publisher.republish()
            return
        self._apply(command)

    def _apply(self, on: Any) -> None:
        self.device.set(on)
        self.publisher.offer(self.device.is_on())

    def close(self) -> None:
        """Stop taking commands and release the pin (gpiozero turns it off)."""
        if self._subscription is not None:
            self._subscription.cancel()
        self.device.close()


class LevelOutputRunner(OutputRunner):
    """A PWM output: 0-100 %, where ON returns to the last level that was not off."""

    COMMANDS = "0-100, ON, OFF or TOGGLE"

    def __init__(self, bus: Bus, device: LevelOutputDevice, publisher: ChannelPublisher) -> None:
        super().__init__(bus, device, publisher)
        self.device: LevelOutputDevice = device
        self.last_on = 100.0

    def _boot_value(self, on: bool) -> float:
        return 100.0 if on else 0.0

    def _restored(self, payload: bytes) -> float:
        return parse_level(payload, 0.0, 100.0) or 0.0

    def _parse(self, payload: bytes) -> float | None:
        return parse_level(payload, self.device.level(), self.last_on)

    def _apply(self, level: float) -> None:
        self.device.set_level(level)
        if level > 0:
            self.last_on = level
        self.publisher.offer(self.device.level())
