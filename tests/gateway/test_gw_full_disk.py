"""`gateway run` with its data directory on a full disk (4 MB of tmpfs or ext4, filled): the
history, the discovery record and the dashboard's key are optional, so the broker, the
sensors and the dashboard keep going; each failing file is named once in the log, and
nothing half-written is left behind."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from gw_helpers import GatewayProcess, Recorder, free_port, wait_listening
from support.small_disk import SmallDisk

from gateway.hardware import is_raspberry_pi

pytestmark = pytest.mark.skipif(is_raspberry_pi(), reason="would drive the real pins of this Pi")

TOPIC = "home/kitchen/temperature"


def _config(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "gateway.toml"  # beside the disk, not on it
    path.write_text(f'[broker]\nhost = "127.0.0.1"\nport = {port}\nsys_interval = 1\n\n'
                    '[[room.kitchen]]\ndriver = "dht22"\npin = 4\ninterval = 2\n')
    return path


def _run(tmp_path: Path, data_dir: Path, name: str) -> tuple[GatewayProcess, int, int]:
    port, web = free_port(), free_port()
    gateway = GatewayProcess(["--config", str(_config(tmp_path, port)), "--data-dir",
                              str(data_dir), "--dashboard-port", str(web),
                              "--hardware", "simulated"], tmp_path / f"{name}.log")
    wait_listening(port)
    return gateway, port, web


def _serves_readings(port: int, web: int) -> None:
    """Fresh readings over MQTT, and plotted by the dashboard."""
    with Recorder(port, "home/#") as rec:
        rec.wait_for(TOPIC, retained=False)
        rec.clear()
        rec.wait_for(TOPIC, retained=False)
    url = f"http://127.0.0.1:{web}/api/history?topic={TOPIC}&range=24h"
    with urllib.request.urlopen(url, timeout=20) as response:
        series = json.load(response)["series"][TOPIC]
    assert len(series) >= 1


@pytest.mark.parametrize("kind", ["tmpfs", "ext4"])
def test_a_gateway_that_ran_before_restarts_on_a_full_disk(tmp_path: Path, kind: str) -> None:
    with SmallDisk(tmp_path / "disk", "4m", kind) as disk:
        data = disk.path / "gateway"
        first, port, web = _run(tmp_path, data, "first")
        with first:
            _serves_readings(port, web)
            assert first.stop() == 0
        assert (data / "history.sqlite3").exists() and (data / "dashboard.key").exists()

        disk.fill()
        second, port, web = _run(tmp_path, data, "second")
        with second:
            _serves_readings(port, web)
            second.wait_output("history: cannot open")
            assert second.proc.poll() is None
            assert second.stop() == 0
        output = second.output()
        assert "Traceback" not in output
        assert output.count(f"history: cannot open {data / 'history.sqlite3'}") == 1
        # What the first run wrote is still there, untouched.
        assert len((data / "dashboard.key").read_bytes()) == 32
        assert json.loads((data / "discovery.json").read_text())["topics"]


@pytest.mark.parametrize("kind", ["tmpfs", "ext4"])
def test_a_fresh_data_dir_on_a_full_disk_leaves_no_empty_files(tmp_path: Path,
                                                                kind: str) -> None:
    with SmallDisk(tmp_path / "disk", "4m", kind) as disk:
        disk.fill()
        data = disk.path / "gateway"
        gateway, port, web = _run(tmp_path, data, "fresh")
        with gateway:
            _serves_readings(port, web)
            assert gateway.stop() == 0
        output = gateway.output()
        assert "Traceback" not in output
        for name in ("history.sqlite3", "discovery.json", "dashboard.key"):
            assert str(data / name) in output, f"{name} is not named in the log"
        # On ext4 even the directory could not be made.
        assert not data.exists() or [p.name for p in data.iterdir()] == []
