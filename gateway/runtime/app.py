"""The gateway application: builds a device per configured sensor, wires each channel to
the bus, announces discovery, and publishes everything again whenever the bus reconnects
or Home Assistant restarts."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path
from typing import Any

from gateway.bus.base import ONLINE, Bus, InboundMessage
from gateway.config.model import Config, SensorConfig
from gateway.discovery import AnnouncementRecord, Entity, discovery_messages
from gateway.drivers.base import (
    Channel,
    Device,
    DriverSpec,
    InputDevice,
    PolledDevice,
    driver_spec,
)
from gateway.hardware import Hardware
from gateway.runtime.channel import ChannelPublisher
from gateway.runtime.clock import Clock, LoopClock
from gateway.runtime.inputs import InputRunner
from gateway.runtime.nodes import NodeRegistry
from gateway.runtime.outputs import OutputRunner
from gateway.runtime.polled import PolledRunner, PollSettings
from gateway.topics import channel_segment, channel_title, channel_topics

log = logging.getLogger(__name__)

HA_STATUS_TOPIC = "status"   # under the discovery prefix: homeassistant/status

Runner = PolledRunner | InputRunner | OutputRunner


@dataclasses.dataclass
class _Parts:
    """What one sensor added to the gateway, so that a reload can take it out again."""

    sensor: SensorConfig
    publishers: list[ChannelPublisher]
    entities: list[Entity]
    runners: list[Runner]
    tasks: list[asyncio.Task[None]]


class Gateway:
    """All configured sensors on one bus."""

    def __init__(self, config: Config, bus: Bus, hardware: Hardware, data_dir: Path,
                 clock: Clock | None = None) -> None:
        self.config = config
        self.bus = bus
        self.hardware = hardware
        self.clock: Clock = clock or LoopClock()
        self.record = AnnouncementRecord(data_dir)
        self.nodes = NodeRegistry(bus, config.gateway, data_dir)
        self.publishers: list[ChannelPublisher] = []
        self.entities: list[Entity] = []
        self.polled: list[PolledRunner] = []
        self.inputs: list[InputRunner] = []
        self.outputs: list[OutputRunner] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._parts: list[_Parts] = []
        self._discovery: dict[str, str] = {}
        self._unrecorded: set[str] | None = None   # announced, not yet in the record
        self._record_failing = False
        self._started = False

    async def start(self) -> None:
        """Build the devices, set outputs to their boot state and start polling.

        The bus must be started already; from here on every reconnection re-publishes."""
        for sensor in self.config.sensors:
            self._build(sensor)
        await self._start_outputs(self.outputs)
        self._discovery = discovery_messages(self.config.gateway, self.entities)
        self._forget_removed(self.record.load())
        prefix = self.config.gateway.discovery_prefix
        self.bus.subscribe(f"{prefix}/{HA_STATUS_TOPIC}", self._on_ha_status)
        self.bus.on_connected(self.republish)
        self._started = True
        self.announce()
        self.nodes.start()

    async def reload(self, sensors: tuple[SensorConfig, ...]) -> tuple[int, int, int]:
        """Run ``sensors`` from now on: a sensor whose settings did not change keeps
        running untouched (an output keeps its state); a changed or removed one is
        stopped, a changed or new one started, and discovery follows. Returns how many
        sensors were kept, stopped and started."""
        unmatched = list(self._parts)
        kept: list[_Parts] = []
        fresh: list[SensorConfig] = []
        for sensor in sensors:
            same = next((p for p in unmatched if _same_settings(p.sensor, sensor)), None)
            if same is None:
                fresh.append(sensor)
            else:
                unmatched.remove(same)
                kept.append(same)
        # Stopped first: a sensor that moved to another pin may free the pin a new one needs.
        for parts in unmatched:
            await self._take_out(parts)
        counts = len(kept), len(unmatched), len(fresh)
        self._parts = kept
        outputs = [r for sensor in fresh for r in self._build(sensor)]
        await self._start_outputs(outputs)
        self.config = dataclasses.replace(self.config, sensors=sensors)
        previous = set(self._discovery)
        self._discovery = discovery_messages(self.config.gateway, self.entities)
        self._forget_removed(previous)
        self.announce()
        return counts

    def _build(self, sensor: SensorConfig) -> list[OutputRunner]:
        """Build and wire one sensor; returns its outputs, still to be started."""
        counts = [len(self.publishers), len(self.entities), len(self.polled), len(self.inputs),
                  len(self.outputs), len(self._tasks)]
        spec = driver_spec(sensor.driver)
        assert spec is not None  # the config validator rejects unknown drivers
        try:
            device = spec.build(sensor, self.hardware)
        except Exception as exc:  # a missing or busy pin must not stop the other sensors
            log.error("%s (%s): cannot start: %s", sensor.key, sensor.driver, exc)
            self._unavailable(sensor, spec)
        else:
            self._wire(sensor, spec, device)
        publishers, entities, polled, inputs, outputs, tasks = counts
        runners: list[Runner] = [*self.polled[polled:], *self.inputs[inputs:],
                                 *self.outputs[outputs:]]
        self._parts.append(_Parts(sensor, self.publishers[publishers:],
                                  self.entities[entities:], runners, self._tasks[tasks:]))
        return self.outputs[outputs:]

    async def _start_outputs(self, outputs: list[OutputRunner]) -> None:
        # Outputs restoring their state wait for the broker; let them wait together.
        results = await asyncio.gather(*(runner.start() for runner in outputs),
                                       return_exceptions=True)
        for runner, result in zip(outputs, results, strict=True):
            if isinstance(result, Exception):
                log.error("%s: cannot set the boot state: %s", runner.publisher.topics.state,
                          result)

    async def _take_out(self, parts: _Parts) -> None:
        """Stop one sensor and release its pin."""
        for task in parts.tasks:
            task.cancel()
        await asyncio.gather(*parts.tasks, return_exceptions=True)
        for publisher in parts.publishers:
            publisher.close()
        self.publishers = _without(self.publishers, parts.publishers)
        self.entities = _without(self.entities, parts.entities)
        self.polled = _without(self.polled, parts.runners)
        self.inputs = _without(self.inputs, parts.runners)
        self.outputs = _without(self.outputs, parts.runners)
        self._tasks = _without(self._tasks, parts.tasks)
        for runner in parts.runners:
            try:
                runner.close()
            except Exception:  # best effort, as in stop()
                log.exception("%s: closing the device failed", parts.sensor.key)

    def _unavailable(self, sensor: SensorConfig, spec: DriverSpec) -> None:
        """Keep a sensor that failed to start in discovery (so Home Assistant does not drop
        it) and, where it has an availability topic, publish it offline."""
        for channel in spec.channels(sensor.driver):
            if self._enabled(sensor, channel):
                self._publisher(sensor, spec, channel).set_available(False)

    def _wire(self, sensor: SensorConfig, spec: DriverSpec, device: Device) -> None:
        if isinstance(device, PolledDevice):
            publishers = {c.key: self._publisher(sensor, spec, c) for c in device.channels
                          if self._enabled(sensor, c)}
            assert sensor.interval is not None  # polled drivers always have an interval
            runner = PolledRunner(sensor.key, device, publishers,
                                  PollSettings.from_options(sensor.interval, sensor.options),
                                  self.clock)
            self.polled.append(runner)
            self._tasks.append(asyncio.create_task(runner.run(), name=sensor.key))
        elif isinstance(device, InputDevice):
            runner_in = InputRunner(device, self._publisher(sensor, spec, device.channel))
            self.inputs.append(runner_in)
            runner_in.start()
        else:
            runner_out = OutputRunner.for_device(self.bus, device,
                                                 self._publisher(sensor, spec, device.channel))
            self.outputs.append(runner_out)

    @staticmethod
    def _enabled(sensor: SensorConfig, channel: Channel) -> bool:
        settings = sensor.channels.get(channel.key)
        return settings is None or settings.enabled

    def _publisher(self, sensor: SensorConfig, spec: DriverSpec,
                   channel: Channel) -> ChannelPublisher:
        settings = sensor.channels.get(channel.key)
        filters = sensor.filters
        if settings is not None:
            channel = dataclasses.replace(
                channel, unit=settings.unit or channel.unit,
                device_class=settings.device_class or channel.device_class,
                state_class=settings.state_class or channel.state_class)
            filters = filters.merged(settings.filters)
        topics = channel_topics(self.config.gateway.topic_prefix, sensor, spec, channel)
        publisher = ChannelPublisher(self.bus, channel, topics, filters, self.clock)
        self.publishers.append(publisher)
        self.entities.append(Entity(
            room=sensor.room, room_title=sensor.room_title,
            object_id=channel_segment(sensor, spec, channel),
            title=channel_title(sensor, spec, channel), channel=channel, topics=topics))
        return publisher

    def _forget_removed(self, previous: set[str]) -> None:
        """Clear the discovery configs of entities that are no longer configured."""
        for topic in sorted(previous - set(self._discovery)):
            log.info("removing %s from Home Assistant", topic)
            self.bus.publish(topic, b"", retain=True)
        self._unrecorded = set(self._discovery)
        self._save_record()

    def _save_record(self) -> None:
        """Record what was announced; on a full disk say so once and try again at the
        next re-announcement (the record only matters when a sensor is removed)."""
        if self._unrecorded is None:
            return
        try:
            self.record.save(self._unrecorded)
        except OSError as exc:
            if not self._record_failing:
                log.warning("cannot record announced entities in %s: %s; trying again "
                            "at the next announcement", self.record.path, exc)
            self._record_failing = True
            return
        if self._record_failing:
            log.info("announced entities recorded in %s", self.record.path)
        self._unrecorded = None
        self._record_failing = False

    def announce(self) -> None:
        """Publish every discovery config (retained)."""
        for topic, payload in self._discovery.items():
            self.bus.publish(topic, payload, retain=True)

    def republish(self) -> None:
        """Publish discovery, states and availability again (the broker may have lost
        them, e.g. a restart without persistence)."""
        if not self._started:
            return
        self._save_record()
        self.announce()
        self.nodes.republish()
        for publisher in self.publishers:
            publisher.republish()

    def _on_ha_status(self, message: InboundMessage) -> None:
        # A retained "online" is history, not Home Assistant starting now.
        if not message.retain and message.payload.strip() == ONLINE.encode():
            log.info("Home Assistant is online: announcing again")
            self.republish()

    async def stop(self) -> None:
        """Stop polling and release every pin and sensor."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self.nodes.close()
        for publisher in self.publishers:
            publisher.close()
        # A task cancelled before it first ran never reached its own cleanup.
        closables: list[PolledRunner | InputRunner | OutputRunner] = [
            *self.polled, *self.inputs, *self.outputs]
        for closable in closables:
            try:
                closable.close()
            except Exception:  # best effort: release the remaining pins regardless
                log.exception("closing a device failed")


def _same_settings(a: SensorConfig, b: SensorConfig) -> bool:
    """True when ``b`` would run exactly as ``a`` does (where in the file does not count)."""
    return dataclasses.replace(a, key="", line=None) == dataclasses.replace(b, key="", line=None)


def _without(items: list[Any], gone: list[Any]) -> list[Any]:
    return [item for item in items if not any(item is g for g in gone)]
