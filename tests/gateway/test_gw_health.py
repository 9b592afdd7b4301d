"""`gateway system health`, the check an updated system must pass before it marks its slot
good: against a real `gateway run`, healthy; a sensor that never reports, or no broker at
all, is unhealthy with the reason; --mark is tested with RAUC in test_gw_update.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from gw_helpers import GatewayProcess, free_port, gateway_command, wait_listening

from gateway.config import load_config
from gateway.hardware import is_raspberry_pi
from gateway.system.health import check_health

pytestmark = pytest.mark.skipif(is_raspberry_pi(), reason="would drive the real pins of this Pi")

SENSORS = '[[room.kitchen]]\ndriver = "dht22"\npin = 4\ninterval = 2\n'
EXTRA = '\n[[room.cellar]]\ndriver = "dht22"\npin = 17\ninterval = 2\n'


def write_config(path: Path, port: int, extra: str = "") -> Path:
    path.write_text(f'[broker]\nhost = "127.0.0.1"\nport = {port}\n\n{SENSORS}{extra}')
    return path


def health(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*gateway_command(), "system", "health", "--config", str(config),
                           *args], capture_output=True, text=True, timeout=120)


def test_a_running_gateway_is_healthy_and_a_silent_sensor_is_named(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path / "gateway.toml", port)
    gateway = GatewayProcess(["--config", str(config), "--hardware", "simulated", "--data-dir",
                              str(tmp_path / "state")], tmp_path / "gateway.log")
    try:
        wait_listening(port)
        ok = health(config, "--timeout", "30")
        assert ok.returncode == 0, ok.stderr
        assert "healthy: broker answers, gateway online, 1 sensors reporting" in ok.stdout
        # The config of a system that expects a sensor this one does not drive.
        expects_more = write_config(tmp_path / "more.toml", port, EXTRA)
        report = check_health(load_config(expects_more), timeout=8)
        assert report.problems == ["no reading within 8 s from: room.cellar[0]"]
        assert report.sensors_reporting == ["room.kitchen[0]"]
    finally:
        assert gateway.stop() == 0


def test_no_broker_is_unhealthy(tmp_path: Path) -> None:
    config = write_config(tmp_path / "gateway.toml", free_port())
    result = health(config, "--timeout", "5")
    assert result.returncode == 1
    assert "unhealthy: the broker does not answer at 127.0.0.1:" in result.stderr
