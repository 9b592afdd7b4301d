"""The gateway's TOML config: loading, validation with file/line/key errors, and the model."""

from gateway.config.errors import ConfigError, ConfigErrors
from gateway.config.load import load_config, parse_config
from gateway.config.model import (
    ChannelSettings,
    Config,
    Filters,
    GatewaySettings,
    MqttSettings,
    SensorConfig,
)

__all__ = [
    "ChannelSettings", "Config", "ConfigError", "ConfigErrors", "Filters", "GatewaySettings",
    "MqttSettings", "SensorConfig", "load_config", "parse_config",
]
