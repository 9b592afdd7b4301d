"""The topic layout: where each value, command and availability flag lives.

    home/<room>/<name>                 the plain value, retained      (home/kitchen/relay)
    home/<room>/<name>/set             commands to an output, never retained
    home/<room>/<name>/availability    online/offline of a sensor that can fail, retained
    home/<node_id>/status              the gateway itself, online/offline with a last will

Single-channel drivers (button, relay) use the sensor name, defaulting to the driver kind;
multi-channel drivers (a DHT gives temperature and humidity) use the channel key, prefixed
by the sensor name when one is given (``outside_temperature``).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config.model import SensorConfig
from gateway.drivers.base import Channel, DriverSpec
from gateway.names import normalize

AVAILABILITY_SUFFIX = "availability"
COMMAND_SUFFIX = "set"
#: Home Assistant components that take commands
OUTPUT_COMPONENTS = ("switch", "light", "fan")


@dataclass(frozen=True)
class ChannelTopics:
    """The topics of one channel; None where the channel has no such topic."""

    state: str
    command: str | None
    availability: str | None

    def all(self) -> list[str]:
        """Every topic this channel owns."""
        return [t for t in (self.state, self.command, self.availability) if t]


def channel_segment(sensor: SensorConfig, spec: DriverSpec, channel: Channel) -> str:
    """The last topic segment of a channel's value."""
    settings = sensor.channels.get(channel.key)
    if settings is not None and settings.name:
        return normalize(settings.name)
    if spec.single_channel(sensor.driver):
        return sensor.name or sensor.driver
    return f"{sensor.name}_{channel.key}" if sensor.name else channel.key


def channel_title(sensor: SensorConfig, spec: DriverSpec, channel: Channel) -> str:
    """A display name for the channel, e.g. ``"Living room temperature"``."""
    settings = sensor.channels.get(channel.key)
    if settings is not None and settings.name:
        own = settings.name
    elif spec.single_channel(sensor.driver):
        own = sensor.title or sensor.driver
    elif sensor.title:
        own = f"{sensor.title} {channel.key.replace('_', ' ')}"
    else:
        own = channel.key.replace("_", " ")
    return f"{sensor.room_title} {own}"


def channel_topics(prefix: str, sensor: SensorConfig, spec: DriverSpec,
                   channel: Channel) -> ChannelTopics:
    """Topics of one channel under ``prefix`` (``home``)."""
    state = f"{prefix}/{sensor.room}/{channel_segment(sensor, spec, channel)}"
    command = f"{state}/{COMMAND_SUFFIX}" if channel.component in OUTPUT_COMPONENTS else None
    # Only polled sensors can fail on their own; a GPIO pin is as available as the gateway.
    availability = f"{state}/{AVAILABILITY_SUFFIX}" if spec.interval is not None else None
    return ChannelTopics(state=state, command=command, availability=availability)


def status_topic(prefix: str, node_id: str) -> str:
    """The gateway's own online/offline topic."""
    return f"{prefix}/{node_id}/status"
