"""The gateway application: builds a device per configured sensor, wires each channel to
the bus, announces discovery, and publishes everything again whenever the bus reconnects
or Home Assistant restarts."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

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
from gateway.runtime.outputs import OutputRunner
from gateway.runtime.polled import PolledRunner, PollSettings
from gateway.topics import channel_segment, channel_title, channel_topics

log = logging.getLogger(__name__)

HA_STATUS_TOPIC = "status"   # under the discovery prefix: homeassistant/status


class Gateway:
    """All configured sensors on one bus."""

    def __init__(self, config: Config, bus: Bus, hardware: Hardware, data_dir: Path,
                 clock: Clock | None = None) -> None:
        self.config = config
        self.bus = bus
        self.hardware = hardware
        self.clock: Clock = clock or LoopClock()
        self.record = AnnouncementRecord(data_dir)
        self.publishers: list[ChannelPublisher] = []
        self.entities: list[Entity] = []
        self.polled: list[PolledRunner] = []
        self.inputs: list[InputRunner] = []
        self.outputs: list[OutputRunner] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._discovery: dict[str, str] = {}
        self._started = False

    async def start(self) -> None:
        """Build the devices, set outputs to their boot state and start polling.

        The bus must be started already; from here on every reconnection re-publishes."""
        for sensor in self.config.sensors:
            spec = driver_spec(sensor.driver)
            assert spec is not None  # the config validator rejects unknown drivers
            try:
                device = spec.build(sensor, self.hardware)
            except Exception as exc:  # a missing or busy pin must not stop the other sensors
                log.error("%s (%s): cannot start: %s", sensor.key, sensor.driver, exc)
                self._unavailable(sensor, spec)
                continue
            self._wire(sensor, spec, device)
        # Outputs restoring their state wait for the broker; let them wait together.
        results = await asyncio.gather(*(runner.start() for runner in self.outputs),
                                       return_exceptions=True)
        for runner, result in zip(self.outputs, results, strict=True):
            if isinstance(result, Exception):
                log.error("%s: cannot set the boot state: %s", runner.publisher.topics.state,
                          result)
        self._discovery = discovery_messages(self.config.gateway, self.entities)
        self._forget_removed()
        prefix = self.config.gateway.discovery_prefix
        self.bus.subscribe(f"{prefix}/{HA_STATUS_TOPIC}", self._on_ha_status)
        self.bus.on_connected(self.republish)
        self._started = True
        self.announce()

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

    def _forget_removed(self) -> None:
        """Clear the discovery configs of entities that are no longer configured."""
        previous = self.record.load()
        for topic in sorted(previous - set(self._discovery)):
            log.info("removing %s from Home Assistant", topic)
            self.bus.publish(topic, b"", retain=True)
        try:
            self.record.save(set(self._discovery))
        except OSError as exc:
            log.warning("cannot record announced entities in %s: %s", self.record.path, exc)

    def announce(self) -> None:
        """Publish every discovery config (retained)."""
        for topic, payload in self._discovery.items():
            self.bus.publish(topic, payload, retain=True)

    def republish(self) -> None:
        """Publish discovery, states and availability again (the broker may have lost
        them, e.g. a restart without persistence)."""
        if not self._started:
            return
        self.announce()
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
