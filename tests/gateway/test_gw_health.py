"""`gateway system health`, the check an updated system must pass before it marks its slot
good: against a real `gateway run`, healthy; a sensor that never reports, or no broker at
all, is unhealthy with the reason; with --mark, on RAUC's service, it decides the trial of
an update and keeps an established system's slot."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from gw_helpers import GatewayProcess, free_port, gateway_command, wait_listening
from support.rauc_system import Boots, RaucSystem

from gateway.config import load_config
from gateway.hardware import is_raspberry_pi
from gateway.system.health import check_health
from gateway.system.update import REPORT_FILE, install_update
from gateway.system.update_rauc import Rauc

pytestmark = pytest.mark.skipif(is_raspberry_pi(), reason="would drive the real pins of this Pi")

SENSORS = '[[room.kitchen]]\ndriver = "dht22"\npin = 4\ninterval = 2\n'
EXTRA = '\n[[room.cellar]]\ndriver = "dht22"\npin = 17\ninterval = 2\n'


def write_config(path: Path, port: int, extra: str = "") -> Path:
    path.write_text(f'[broker]\nhost = "127.0.0.1"\nport = {port}\n\n{SENSORS}{extra}')
    return path


def health(config: Path, *args: str,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*gateway_command(), "system", "health", "--config", str(config),
                           *args], capture_output=True, text=True, timeout=120, env=env)


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


def test_mark_decides_a_trial_and_keeps_an_established_slot(tmp_path: Path,
                                                            rauc_system: RaucSystem,
                                                            update_bundles: dict[str, Path]) -> None:
    """--mark as the image's boot unit runs it, on RAUC's service: a sensor gone silent is a
    warning on an ordinary boot (marked good, exit 0) but fails the trial of an update
    (marked bad, exit 1, the reason kept for the rollback message)."""
    port, data = free_port(), tmp_path / "data"
    config = write_config(tmp_path / "gateway.toml", port)
    expects_more = write_config(tmp_path / "more.toml", port, EXTRA)
    gateway = GatewayProcess(["--config", str(config), "--hardware", "simulated", "--data-dir",
                              str(tmp_path / "state")], tmp_path / "gateway.log")
    mark = ("--mark", "--timeout", "8", "--data-dir", str(data), "--rauc-conf",
            str(rauc_system.conf))
    try:
        wait_listening(port)
        ordinary = health(expects_more, *mark, env=rauc_system.env)
        assert ordinary.returncode == 0, ordinary.stderr
        assert "mark-good booted" in ordinary.stdout
        assert "warning: no reading within 8 s from: room.cellar[0]" in ordinary.stderr
        assert not (data / REPORT_FILE).exists()  # an ordinary boot leaves no trial report

        boots = Boots()
        install_update(update_bundles["good"], data, Rauc(rauc_system.conf), boot_id=boots)
        assert boots.reboot(rauc_system) == "B"
        trial = health(expects_more, *mark, env=rauc_system.env)
        assert trial.returncode == 1
        assert "trial of an update: " in trial.stdout and "mark-bad booted" in trial.stdout
        assert rauc_system.boot_state("B") == "bad"
        kept = json.loads((data / REPORT_FILE).read_text())
        assert kept["ok"] is False and kept["slot"] == "B"
        assert kept["problems"] == ["no reading within 8 s from: room.cellar[0]"]
    finally:
        assert gateway.stop() == 0
