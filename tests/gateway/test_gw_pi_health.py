"""The Pi's health values, read from a fake /proc and /sys."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.drivers.base import ReadError
from gateway.drivers.pi_health import PiHealth


def fake_root(tmp_path: Path, throttled: str | None = "0x50005") -> Path:
    files = {
        "sys/class/thermal/thermal_zone0/temp": "48312\n",
        "proc/loadavg": "0.52 0.40 0.33 1/123 4567\n",
        "proc/meminfo": "MemTotal:  1000000 kB\nMemFree: 100000 kB\nMemAvailable:  750000 kB\n",
        "proc/uptime": "12345.67 20000.00\n",
    }
    if throttled is not None:
        files["sys/devices/platform/soc/soc:firmware/get_throttled"] = throttled + "\n"
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_reads_every_value(tmp_path: Path) -> None:
    health = PiHealth(root=fake_root(tmp_path), disk_path=str(tmp_path))
    values = health.read()
    assert values["cpu_temperature"] == pytest.approx(48.312)
    assert values["load"] == 0.52
    assert values["memory_used"] == pytest.approx(25.0)
    assert 0.0 < values["disk_used"] < 100.0
    assert values["uptime"] == 12345.67
    # 0x50005: under-voltage now (bit 0), throttled now (bit 2)
    assert values["undervoltage"] is True and values["throttled"] is True


def test_flags_clear(tmp_path: Path) -> None:
    values = PiHealth(root=fake_root(tmp_path, "0x50000"), disk_path=str(tmp_path)).read()
    assert values["undervoltage"] is False and values["throttled"] is False


def test_only_readable_channels_are_offered(tmp_path: Path) -> None:
    health = PiHealth(root=fake_root(tmp_path, throttled=None), disk_path=str(tmp_path))
    keys = [c.key for c in health.channels]
    assert "throttled" not in keys and "undervoltage" not in keys
    assert "cpu_temperature" in keys and "uptime" in keys


def test_nothing_readable_is_a_read_error(tmp_path: Path) -> None:
    health = PiHealth(root=tmp_path / "empty", disk_path=str(tmp_path / "missing"))
    assert health.channels == []
    with pytest.raises(ReadError):
        health.read()
