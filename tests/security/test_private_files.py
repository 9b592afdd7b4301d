"""Files with secrets or house data are private to the service's user (issue 19, point 6).

The stores are created with a umask of 022, systemd's default, which alone would leave them
world-readable; the boot partition (gateway.toml with WiFi and user passwords) is mounted
so that only root reads it.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker import Broker, BrokerConfig
from broker.bridge.queue import Backlog, Queued
from gateway.dashboard.auth import SessionSigner, Users
from gateway.dashboard.history import HistoryStore

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _database_files(path: Path) -> dict[str, int]:
    return {p.name: _mode(p) for p in path.parent.glob(f"{path.name}*")}


async def _broker_with_state(data: Path) -> None:
    broker = Broker(BrokerConfig(port=0, sys_interval=0, data_dir=str(data)))
    await broker.start()
    broker.publish("home/hall/temperature", "21.5", qos=1, retain=True)
    await broker.persistence.drain()
    files = _database_files(data / "broker.db")
    await broker.stop()
    assert {"broker.db", "broker.db-wal", "broker.db-shm"} <= set(files), files
    assert set(files.values()) == {0o600}, files


def test_broker_store_is_private_whatever_the_umask(tmp_path: Path, umask_022) -> None:
    data = tmp_path / "state" / "broker"
    asyncio.run(asyncio.wait_for(_broker_with_state(data), 60))
    assert _mode(tmp_path / "state") == 0o700
    assert _mode(data) == 0o700
    assert _mode(data / "broker.db") == 0o600


def test_a_store_left_readable_by_an_older_version_is_made_private(
    tmp_path: Path, umask_022
) -> None:
    data = tmp_path / "data"
    asyncio.run(asyncio.wait_for(_broker_with_state(data), 60))
    for p in data.iterdir():
        p.chmod(0o644)
    asyncio.run(asyncio.wait_for(_broker_with_state(data), 60))
    assert {_mode(p) for p in data.iterdir()} == {0o600}


def test_history_database_is_private_whatever_the_umask(tmp_path: Path, umask_022) -> None:
    path = tmp_path / "state" / "dashboard" / "history.sqlite3"

    async def scenario() -> dict[str, int]:
        store = HistoryStore(path, flush_interval=3600)
        await store.start()
        store.add("home/kitchen/temperature", 21.5)
        await store.flush()
        files = _database_files(path)
        await store.stop()
        return files

    files = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert {"history.sqlite3", "history.sqlite3-wal", "history.sqlite3-shm"} <= set(files)
    assert set(files.values()) == {0o600}, files
    assert _mode(path.parent) == 0o700
    assert _mode(tmp_path / "state") == 0o700


def test_bridge_backlog_is_private_whatever_the_umask(tmp_path: Path, umask_022) -> None:
    path = tmp_path / "bridges" / "upstream.db"
    backlog = Backlog(1_000_000, path)
    try:
        backlog.push(Queued("home/x", b"21.5", 1, False, {}), durable=True)
        backlog.commit()
        files = _database_files(path)
    finally:
        backlog.close()
    assert "upstream.db" in files and set(files.values()) == {0o600}, files
    assert _mode(path.parent) == 0o700


def test_boot_partition_is_mounted_for_root_and_the_gateways_group_only() -> None:
    fstab = (REPO / "deploy/image/overlay/etc/fstab").read_text()
    boot = [line.split() for line in fstab.splitlines()
            if not line.startswith("#") and "/boot/firmware" in line]
    assert len(boot) == 1
    _, mount_point, fs_type, options = boot[0][:4]
    assert fs_type == "vfat"
    opts = options.split(",")
    # FAT has no permissions of its own: these masks are all there is. Root writes; the
    # gateway's group (layer.sh fills in its number) reads, for the dashboard's backups of
    # gateway.toml; every other account gets nothing (passwords are in those files).
    assert "uid=0" in opts and "gid=@GATEWAY_GID@" in opts
    assert "fmask=0137" in opts and "dmask=0027" in opts
    assert not [o for o in opts if o.startswith("umask=")]


def test_dashboard_login_key_is_private_whatever_the_umask(tmp_path: Path, umask_022) -> None:
    fresh = tmp_path / "state" / "dashboard"
    SessionSigner.from_data_dir(fresh, Users(None))
    assert _mode(fresh / "dashboard.key") == 0o600
    assert _mode(fresh) == 0o700

    # A key an older version left 0644 is made private when the dashboard starts.
    old = tmp_path / "old"
    old.mkdir()
    (old / "dashboard.key").write_bytes(b"k" * 32)
    os.chmod(old / "dashboard.key", 0o644)
    SessionSigner.from_data_dir(old, Users(None))
    assert _mode(old / "dashboard.key") == 0o600
