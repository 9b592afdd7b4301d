"""Something happening on a simulated bench: with no Pi, the mock input pins are flipped
now and then (someone walks past the PIR, a door opens) so the quick start shows events,
not only temperatures. Never used with real hardware or in tests."""

from __future__ import annotations

import asyncio
import logging
import random

from gateway.config.model import SensorConfig

log = logging.getLogger(__name__)

#: driver kind -> (seconds between events: low, high; seconds the level stays flipped)
EVENTS = {
    "motion": ((20.0, 90.0), 5.0),
    "button": ((45.0, 150.0), 0.3),
    "contact": ((60.0, 240.0), 20.0),
    "binary": ((60.0, 240.0), 10.0),
}
#: kinds whose resting state is the flipped idle level: a door is mostly shut, which
#: pulls its pulled-up line low
START_FLIPPED = {"contact"}


async def simulate_inputs(pin_factory: object, sensors: list[SensorConfig],
                          seed: int | None = None) -> None:
    """Flip the mock pins of the configured inputs until cancelled."""
    rng = random.Random(seed)
    tasks = [asyncio.create_task(_events(pin_factory, s, rng)) for s in sensors
             if s.driver in EVENTS and s.pin is not None]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()


async def _events(pin_factory: object, sensor: SensorConfig, rng: random.Random) -> None:
    (low, high), hold = EVENTS[sensor.driver]
    pin = pin_factory.pin(sensor.pin)  # type: ignore[attr-defined]
    if sensor.driver in START_FLIPPED:
        _flip(pin)
    while True:
        await asyncio.sleep(rng.uniform(low, high))
        log.debug("simulating %s on GPIO %s", sensor.driver, sensor.pin)
        _flip(pin)
        await asyncio.sleep(hold)
        _flip(pin)


def _flip(pin: object) -> None:
    if pin.state:  # type: ignore[attr-defined]
        pin.drive_low()  # type: ignore[attr-defined]
    else:
        pin.drive_high()  # type: ignore[attr-defined]
