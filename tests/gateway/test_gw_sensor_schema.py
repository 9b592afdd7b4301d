"""The discovery configs of the 1-Wire, I2C, HC-SR04 and PWM drivers, as the example config
announces them, checked by Home Assistant's own MQTT discovery schema (tests/support/
ha_schema.py): none rejected, no key silently dropped."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from gw_rig import start
from support.ha_schema import check_configs

from gateway.drivers.base import driver_spec
from gateway.hardware import select_hardware
from gateway.topics import channel_topics

EXAMPLE = Path(__file__).resolve().parents[2] / "gateway" / "example.toml"
NEW_KINDS = ("ds18b20", "bme280", "bmp280", "bh1750", "ads1115", "hcsr04", "pwm", "pwm_fan")
#: keys every gateway config carries that the checked version drops: default_entity_id
#: arrived in Home Assistant 2025.10; a top-level suggested_area is ignored (issue 14's
#: per-device discovery moves it into ``device``). The drivers' own keys must all stay.
GATEWAY_WIDE = {"default_entity_id", "suggested_area"}


def announced(tmp_path: Path, extra: str = "") -> dict[str, dict]:
    """Discovery topic -> config of every entity of the example's new drivers (plus
    ``extra`` config text)."""
    async def scenario() -> dict[str, dict]:
        rig = await start(EXAMPLE.read_text() + extra, tmp_path,
                          select_hardware("simulated", seed=1))
        config = rig.gateway.config
        states = set()
        for sensor in config.sensors:
            spec = driver_spec(sensor.driver)
            if sensor.driver in NEW_KINDS and spec is not None:
                states |= {channel_topics(config.gateway.topic_prefix, sensor, spec, c).state
                           for c in spec.channels(sensor.driver)}
        configs = {t: json.loads(p) for t, p in rig.gateway._discovery.items()}
        await rig.gateway.stop()
        return {t: c for t, c in configs.items() if c["state_topic"] in states}

    return asyncio.run(scenario())


def test_home_assistant_accepts_every_new_driver_config(tmp_path: Path) -> None:
    fan = '\n[[room.attic]]\ndriver = "pwm_fan"\nname = "fan"\npin = 13\n' \
          '[[room.attic]]\ndriver = "bmp280"\naddress = 0x77\n'
    configs = announced(tmp_path, fan)
    components = {t.split("/")[1] for t in configs}
    assert components == {"sensor", "light", "fan"}
    assert len(configs) >= 12, sorted(configs)
    version, results = check_configs([(t.split("/")[1], c) for t, c in configs.items()])
    for (topic, _), result in zip(configs.items(), results, strict=True):
        assert "error" not in result, f"{topic}: Home Assistant {version}: {result['error']}"
        assert set(result["dropped"]) <= GATEWAY_WIDE, (topic, version, result)
        assert result["device_dropped"] == [], (topic, version, result)


def test_the_schema_check_does_reject_wrong_keys(tmp_path: Path) -> None:
    # The same check refuses what Home Assistant refuses: it is not a rubber stamp.
    configs = announced(tmp_path)
    light = configs["homeassistant/sensor/gateway/office_light/config"]
    strip = configs["homeassistant/light/gateway/hall_strip/config"]
    _, results = check_configs([("sensor", {**light, "device_class": "lux"}),
                                ("light", {**strip, "brightness_scale": 0})])
    assert all("error" in r for r in results), results
