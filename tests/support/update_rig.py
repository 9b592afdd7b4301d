"""`gateway run` (in this process, on a loop thread of its own) set up for node firmware
updates: a broker listener on the LAN address with users and an ACL, the HTTP image server,
and images in its store. Nodes, phones and the CLI come from the ``lan`` namespace.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from broker.auth.passwords import PasswordFile
from support.lan import Lan
from support.node_images import write_image
from support.pahoclient import PahoClient

TIMEOUT = 30.0

#: The rig's users: who they are in the ACL below.
USERS = ("gwadmin", "phone", "attic_node", "kitchen_node")
ACL = """\
user gwadmin
topic readwrite home/#

# a phone: reads everything, switches outputs
user phone
topic read home/#
topic write home/+/+/set

# nodes: their own room only
user attic_node
topic readwrite home/attic/#

user kitchen_node
topic readwrite home/kitchen/#
"""


def password(user: str) -> str:
    return f"{user}-password-of-16+"


def free_port(host: str) -> int:
    with socket.create_server((host, 0)) as probe:
        return probe.getsockname()[1]


@dataclass
class UpdateRig:
    """A running gateway; ``mqtt_port`` and ``http_port`` on ``host``."""

    host: str
    mqtt_port: int
    http_port: int
    data_dir: Path
    lan: Lan

    @property
    def firmware_dir(self) -> Path:
        return self.data_dir / "firmware"

    def url(self, user: str) -> str:
        return f"mqtt://{user}:{password(user)}@{self.host}:{self.mqtt_port}"

    def client(self, user: str, client_id: str | None = None, version: int = 5) -> PahoClient:
        """A client of ``user`` connected from the LAN."""
        client = PahoClient(self.mqtt_port, version=version, client_id=client_id or "")
        client.client.username_pw_set(user, password(user))
        self.lan.call(client.connect, host=self.host)
        return client


@contextmanager
def update_rig(lan: Lan, tmp_path: Path, versions: tuple[str, ...] = ("0.4.0",)
               ) -> Iterator[UpdateRig]:
    """A gateway with images of ``versions`` stored, listening on ``lan.host_ip``."""
    from gpiozero.pins.mock import MockFactory

    from gateway.config import parse_config
    from gateway.hardware import Hardware
    from gateway.serve import RunOptions, run

    users = PasswordFile()
    for user in USERS:
        users.set_password(user, password(user), iterations=1000)
    users.save(tmp_path / "passwd")
    (tmp_path / "acl").write_text(ACL)
    data_dir = tmp_path / "data"
    for version in versions:
        write_image(data_dir / "firmware", version)
    mqtt_port, http_port = free_port(lan.host_ip), free_port(lan.host_ip)
    config = parse_config(f"""
[[broker.listeners]]
kind = "tcp"
host = "{lan.host_ip}"
port = {mqtt_port}
password_file = "{tmp_path / 'passwd'}"
acl_file = "{tmp_path / 'acl'}"

[serial]
enabled = false

[nodes]
firmware_port = {http_port}
""")
    options = RunOptions(data_dir=str(data_dir), host=lan.host_ip)
    hardware = Hardware(simulated=True, pin_factory=MockFactory(), seed=1)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    stop = asyncio.run_coroutine_threadsafe(_event(), loop).result(TIMEOUT)
    ready = threading.Event()
    running = asyncio.run_coroutine_threadsafe(run(config, options, stop, hardware, ready.set),
                                               loop)
    try:
        while not ready.wait(0.1):
            if running.done():
                running.result()
                raise AssertionError("gateway run ended before it was ready")
        yield UpdateRig(lan.host_ip, mqtt_port, http_port, data_dir, lan)
    finally:
        loop.call_soon_threadsafe(stop.set)
        running.result(TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(TIMEOUT)
        loop.close()


async def _event() -> asyncio.Event:
    return asyncio.Event()
