"""The dashboard's update API from the house network (support.lan): an administrator
uploads a bundle (multipart, streamed) and sees it installed by RAUC's real service, the
gateway restarted into it (the restart command is recorded); strangers, users who are not
administrators and cross-site posts are refused; an upload larger than the data
directory's free space is refused and leaves nothing behind."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from support.lanloop import LanLoop
from support.rauc_system import RaucSystem
from support.small_disk import SmallDisk
from support.wait import TIMEOUT

from broker import Broker, BrokerConfig
from broker.auth.passwords import PasswordFile
from gateway.dashboard import Dashboard
from gateway.dashboard.update_routes import UPDATE_PATH, enable_updates
from gateway.system.update import PENDING_FILE
from gateway.system.update_rauc import Rauc

PASSWORD = "a-long-enough-password"
ACL = "user admin\ntopic readwrite #\n\nuser viewer\ntopic read home/#\n"


def auth(user: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class Gateway:
    """The broker and the dashboard on the LAN address, updates enabled."""

    def __init__(self, tmp: Path, host: str, data: Path, rauc_system: RaucSystem) -> None:
        users = PasswordFile()
        for name in ("admin", "viewer"):
            users.set_password(name, PASSWORD, iterations=1000)
        users.save(tmp / "passwd")
        (tmp / "acl").write_text(ACL)
        self.settings = {"password_file": str(tmp / "passwd"), "acl_file": str(tmp / "acl")}
        self.broker = Broker(BrokerConfig(listeners=[
            {"name": "lan", "kind": "tcp", "host": host, "port": 0, **self.settings}],
            sys_interval=0))
        self.dashboard = Dashboard(self.broker, 0, host, data, tmp / "passwd")
        self.rebooted = tmp / "rebooted"
        enable_updates(self.dashboard, self.settings, data, Rauc(rauc_system.conf),
                       ["touch", str(self.rebooted)])
        self.url = ""
        self.host = host

    async def __aenter__(self) -> Gateway:
        await self.broker.start()
        await self.dashboard.start()
        self.url = f"http://{self.host}:{self.dashboard.port}{UPDATE_PATH}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.dashboard.stop()
        await self.broker.stop()


async def request(method: str, url: str, headers: dict[str, str] | None = None,
                  **kwargs: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, \
            session.request(method, url, headers=headers or {}, **kwargs) as response:
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, body


def upload(path: Path) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("bundle", path.open("rb"), filename=path.name,
                   content_type="application/octet-stream")
    return form


@pytest.fixture
def stranger(lan_loop: LanLoop) -> Iterator[Any]:
    """Runs a request from the LAN: ``await stranger(method, url, ...)``."""
    async def call(*args: Any, **kwargs: Any) -> tuple[int, Any]:
        return await asyncio.to_thread(lan_loop.run, request(*args, **kwargs))
    yield call


def test_an_admin_updates_from_the_page_and_others_are_refused(
        rauc_system: RaucSystem, update_bundles: dict[str, Path], tmp_path: Path, lan: Any,
        stranger: Any) -> None:
    data = tmp_path / "data"

    async def scenario() -> None:
        async with Gateway(tmp_path, lan.host_ip, data, rauc_system) as gw:
            assert (await stranger("GET", gw.url))[0] == 401
            assert (await stranger("POST", gw.url, data=upload(update_bundles["good"])))[0] == 401
            assert (await stranger("GET", gw.url, auth("viewer")))[0] == 403
            viewer = await stranger("POST", gw.url, auth("viewer"), data=upload(update_bundles["good"]))
            assert viewer[0] == 403
            cross_site = {**auth("admin"), "Origin": "http://evil.example"}
            assert (await stranger("POST", gw.url, cross_site,
                                   data=upload(update_bundles["good"])))[0] == 403
            assert rauc_system.primary() == "A" and not (data / PENDING_FILE).exists()

            status, body = await stranger("POST", gw.url, auth("admin"), json={"url": "ftp://x/u"})
            assert status == 400 and "http:// or https://" in body["error"]
            status, body = await stranger("GET", gw.url, auth("admin"))
            assert status == 200 and body["state"] == "idle" and body["booted_slot"] == "A"
            assert {"booted_slot", "booted_version", "other_slot_version", "state", "progress",
                    "message"} <= body.keys()
            status, body = await stranger("POST", gw.url, auth("admin"),
                                          data=upload(update_bundles["good"]))
            assert status == 202, body
            deadline = asyncio.get_running_loop().time() + TIMEOUT
            while not gw.rebooted.exists():
                assert asyncio.get_running_loop().time() < deadline, "no restart"
                await asyncio.sleep(0.2)
            status, body = await stranger("GET", gw.url, auth("admin"))
            assert body["state"] == "rebooting" and "slot B" in body["message"]
            assert rauc_system.primary() == "B"
            assert [p for p in data.iterdir() if "raucb" in p.name] == []  # the upload is gone

    asyncio.run(asyncio.wait_for(scenario(), 300))


def test_a_bad_upload_is_said_by_the_status(rauc_system: RaucSystem, update_bundles: dict[str, Path],
                                            tmp_path: Path, lan: Any, stranger: Any) -> None:
    data = tmp_path / "data"

    async def scenario() -> None:
        async with Gateway(tmp_path, lan.host_ip, data, rauc_system) as gw:
            status, _ = await stranger("POST", gw.url, auth("admin"),
                                       data=upload(update_bundles["other_key"]))
            assert status == 202
            deadline = asyncio.get_running_loop().time() + TIMEOUT
            while True:
                body = (await stranger("GET", gw.url, auth("admin")))[1]
                if body["state"] == "failed":
                    break
                assert body["state"] == "installing", body
                assert asyncio.get_running_loop().time() < deadline, body
                await asyncio.sleep(0.2)
            assert "the upload update.raucb is not signed with this gateway's update key" \
                in body["message"]  # named as the user knows it, not by its temporary name
            assert not gw.rebooted.exists() and rauc_system.primary() == "A"

    asyncio.run(asyncio.wait_for(scenario(), 300))


def test_an_upload_larger_than_the_free_space_is_refused(rauc_system: RaucSystem,
                                                         tmp_path: Path, lan: Any,
                                                         stranger: Any) -> None:
    big = tmp_path / "big.raucb"
    big.write_bytes(b"\0" * (12 << 20))

    async def scenario(data: Path) -> None:
        async with Gateway(tmp_path, lan.host_ip, data, rauc_system) as gw:
            status, body = await stranger("POST", gw.url, auth("admin"), data=upload(big))
            assert status == 507 and "not enough space for the bundle" in body["error"]
            assert [p for p in data.iterdir() if "raucb" in p.name] == []

    with SmallDisk(tmp_path / "data", "24m") as disk:
        asyncio.run(asyncio.wait_for(scenario(disk.path), 300))
        assert disk.free_bytes() > 20 << 20
