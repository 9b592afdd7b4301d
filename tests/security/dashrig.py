"""A gateway for attacks from the LAN: the broker (tcp and ws listeners on the LAN address
with users and the README's kind of ACL, plus tcp on loopback: anonymous there, or with the
same users) and the dashboard,
on one event loop in a thread, with a house of retained values. Commands the broker routes
are recorded, so a test sees what an attack made the gateway publish."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from support.lan import Lan

from broker import Broker, BrokerConfig, Message
from broker.auth.passwords import PasswordFile
from gateway.dashboard import Dashboard
from gateway.dashboard.https import listener_context

from .harness import LoopThread

TIMEOUT = 30.0
USERS = ("ha", "reader", "phone", "stranger", "prometheus")

#: each user's rights, as README "Access control" writes them
ACL = """\
user ha
topic readwrite homeassistant/#

user reader
topic read home/#

user phone
topic read home/#
topic write home/+/+/set
topic write home/+/+/firmware/install
topic deny home/door/code

user stranger
topic read garden/#

user prometheus
topic read $SYS/#
"""


def password(user: str) -> str:
    """Each user's password (16 characters and more, as `gateway passwd` asks)."""
    return f"{user}-long-password-1"


def hall_light_config() -> str:
    return json.dumps({"name": "Hall light", "state_topic": "home/hall/light",
                       "command_topic": "home/hall/light/set", "payload_on": "ON",
                       "payload_off": "OFF", "availability_topic": "home/gw/status"})


HOUSE = {
    "homeassistant/switch/gw/hall_light/config": hall_light_config(),
    "home/gw/status": "online",
    "home/hall/light": "OFF",
    "home/door/code": "1234",
    "home/kitchen/temperature": "21.4",
}


@dataclass
class Rig:
    """The running gateway; ``commands`` holds what was published on command topics."""

    lan: Lan
    loop: LoopThread
    broker: Broker
    dashboard: Dashboard
    passwd: Path
    scheme: str = "http"
    commands: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.lan.host_ip}:{self.dashboard.port}"

    @property
    def mqtt_port(self) -> int:
        return self.broker.ports["lan"]

    def publish(self, topic: str, payload: str, retain: bool = False) -> None:
        """Publish in-process, as the gateway's drivers do."""
        self.loop.call(self.broker.publish, topic, payload, 0, retain)

    def sent(self, topic_prefix: str) -> list[tuple[str, bytes]]:
        return [c for c in self.commands if c[0].startswith(topic_prefix)]


def start_rig(lan: Lan, tmp: Path, *, tls: tuple[Path, Path] | None = None,
              **dashboard: Any) -> Rig:
    """The gateway; ``tls`` (certfile, keyfile) adds a tls listener, whose certificate the
    dashboard then serves HTTPS with (as ``gateway run`` does)."""
    users = PasswordFile()
    for user in USERS:
        users.set_password(user, password(user), iterations=1000)
    users.save(tmp / "passwd")
    (tmp / "acl").write_text(ACL)
    secured = {"host": lan.host_ip, "port": 0, "password_file": str(tmp / "passwd"),
               "acl_file": str(tmp / "acl")}
    listeners = [{"name": "lan", "kind": "tcp", **secured}, {"name": "ws", "kind": "ws", **secured},
                 {"name": "local", "kind": "tcp", **secured, "host": "127.0.0.1"}]
    if tls is not None:
        listeners.append({"name": "tls", "kind": "tls", **secured,
                          "certfile": str(tls[0]), "keyfile": str(tls[1])})
    loop = LoopThread()
    broker = Broker(BrokerConfig(listeners=listeners, sys_interval=0))

    async def start() -> Dashboard:
        await broker.start()
        for topic, payload in HOUSE.items():
            broker.publish(topic, payload, retain=True)
        dash = Dashboard(broker, 0, lan.host_ip, tmp / "data", tmp / "passwd",
                         session_check_interval=0.1, ssl_context=listener_context(broker),
                         **dashboard)
        await dash.start()
        return dash

    rig = Rig(lan, loop, broker, loop.run(start()), tmp / "passwd",
              "https" if tls else "http")

    def record(msg: Message) -> None:
        rig.commands.append((msg.topic, msg.payload))

    for topic_filter in ("secret/#", "home/+/+/set"):
        loop.call(broker.subscribe, topic_filter, record)
    return rig


def stop_rig(rig: Rig) -> None:
    async def stop() -> None:
        await rig.dashboard.stop()
        await rig.broker.stop()

    rig.loop.run(stop())
    rig.loop.stop()


@pytest.fixture(name="rig")
def rig_fixture(lan: Lan, tmp_path: Path) -> Iterator[Rig]:
    """The gateway of :func:`start_rig`, stopped after the test (import it to use it)."""
    running = start_rig(lan, tmp_path)
    try:
        yield running
    finally:
        stop_rig(running)


def basic(user: str, secret: str | None = None) -> dict[str, str]:
    """HTTP basic auth headers for ``user`` (their password unless ``secret``)."""
    token = f"{user}:{password(user) if secret is None else secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(token).decode("ascii")}


def session(**options: Any) -> aiohttp.ClientSession:
    """A client that keeps cookies from an IP address (aiohttp's default jar refuses)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), **options)


async def get_json(url: str, auth: dict[str, str]) -> tuple[int, Any]:
    async with session() as s, s.get(url, headers=auth) as res:
        body = await res.json() if res.content_type == "application/json" else None
        return res.status, body


async def switch(url: str, auth: dict[str, str], topic: str, on: bool = True) -> int:
    async with session() as s, s.post(f"{url}/api/switch", headers=auth,
                                      json={"topic": topic, "on": on}) as res:
        return res.status
