"""``gateway node update NAME|--all`` and ``gateway node firmware list|add``.

``update`` asks the running gateway, through the broker and with the CLI's own credentials
(so the broker's ACL decides who may), to offer its newest firmware to nodes: it publishes
``install`` on each node's ``<prefix>/<room>/<node>/firmware/install`` and follows the
node's ``.../firmware/progress`` and the gateway's ``.../firmware/state`` until the node
runs the new version, reports a failure, or the time is up (docs/contracts.md "Node
firmware updates").
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click
import paho.mqtt.client as mqtt

from gateway.mqtt_url import BrokerURL
from gateway.node_firmware import BadImage, FirmwareStore

#: The service's state directory on the appliance (systemd StateDirectory=sensor-gateway).
APPLIANCE_DATA_DIR = Path("/var/lib/sensor-gateway")
#: How long the gateway gets to answer an ``install`` with a state in progress.
OFFER_WAIT = 15.0
STOPPED = "failed: the gateway no longer sees an update in progress"


def default_data_dir() -> Path:
    """$STATE_DIRECTORY, the appliance's state directory, else the user's own."""
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"])
    if APPLIANCE_DATA_DIR.is_dir():
        return APPLIANCE_DATA_DIR
    return Path.home() / ".local" / "state" / "sensor-gateway"


@dataclass
class _Target:
    """One node being updated."""

    room: str
    node: str
    installed: str | None = None
    latest: str | None = None
    in_progress: bool = False
    offered: bool = False           # the gateway answered the install (state in progress)
    asked_at: float = 0.0
    result: str | None = None       # "done", "failed: ...", "up to date"
    reports: bool = False           # the node has reported progress (it can update)
    shown: str = ""

    @property
    def name(self) -> str:
        return self.node


def _topic(prefix: str, target: _Target, leaf: str) -> str:
    return f"{prefix}/{target.room}/{target.node}/firmware/{leaf}"


class _Follower:
    """Feeds state and progress messages into the targets; prints what happens."""

    def __init__(self, prefix: str, targets: list[_Target]) -> None:
        self.prefix = prefix
        self.by_topic: dict[str, tuple[_Target, str]] = {}
        for target in targets:
            for leaf in ("state", "progress"):
                self.by_topic[_topic(prefix, target, leaf)] = (target, leaf)

    def feed(self, topic: str, payload: bytes) -> None:
        found = self.by_topic.get(topic)
        if found is None or not payload:
            return
        target, leaf = found
        try:
            data = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            return
        if not isinstance(data, dict):
            return
        if leaf == "state":
            self._state(target, data)
        else:
            target.reports = True
            self._progress(target, data)

    def _state(self, target: _Target, data: dict) -> None:
        target.installed = data.get("installed_version") or target.installed
        target.latest = data.get("latest_version") or target.latest
        target.in_progress = bool(data.get("in_progress"))
        if target.asked_at and target.in_progress:
            target.offered = True
        if not target.offered or target.in_progress or target.result not in (None, STOPPED):
            return
        if target.installed == target.latest:
            target.result = "done"
        elif target.result is None:
            target.result = STOPPED     # the node's progress says why, if it has

    def _progress(self, target: _Target, data: dict) -> None:
        if not target.asked_at or target.result not in (None, STOPPED):
            return
        status, version = data.get("st"), data.get("v")
        if status == "failed" and version == target.latest and target.offered:
            target.result = f"failed: {data.get('err') or 'no reason given'}"
            return
        if status in ("download", "verify", "reboot"):
            pct = data.get("pct")
            line = f"{status} {pct} %" if status == "download" and pct is not None else status
            # Every report the node sends is at least 10 % apart: print each once.
            if line != target.shown:
                target.shown = line
                click.echo(f"{target.name}: {line}")


def update_nodes(client: mqtt.Client, prefix: str, found: dict[str, bytes], timeout: float,
                 clock: Callable[[], float] = time.monotonic) -> list[_Target]:
    """Ask for and follow the update of every node announced in ``found`` (topic ->
    announcement); returns the targets with their results."""
    targets = []
    for topic in sorted(found):
        levels = topic.split("/")
        targets.append(_Target(room=levels[1], node=levels[2]))
    follower = _Follower(prefix, targets)
    inbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
    subscribed = threading.Event()
    client.on_message = lambda _c, _u, m: inbox.put((m.topic, m.payload))
    client.on_subscribe = lambda *args: subscribed.set()
    client.subscribe([(t, 1) for t in follower.by_topic])
    if not subscribed.wait(10):
        raise click.ClickException("the broker did not answer the subscription")

    def drain(until: float) -> None:
        while True:
            left = until - clock()
            if left <= 0:
                return
            try:
                topic, payload = inbox.get(timeout=min(left, 0.2))
            except queue.Empty:
                continue
            follower.feed(topic, payload)

    drain(clock() + 1.0)            # the retained states and progress come first
    for target in targets:
        if not target.reports:
            target.result = ("failed: it has never reported update progress; its firmware "
                             "cannot update over the air (flash it once by cable)")
            continue
        if target.installed is not None and target.installed == target.latest \
                and not target.in_progress:
            target.result = "up to date"
            click.echo(f"{target.name}: runs firmware {target.installed}; the gateway has "
                       "nothing newer")
            continue
        info = client.publish(_topic(prefix, target, "install"), b"install", qos=1)
        info.wait_for_publish(timeout=10)
        if not info.is_published():
            raise click.ClickException("the broker did not acknowledge the install request")
        target.asked_at = clock()
        click.echo(f"{target.name}: update from {target.installed or '?'} to "
                   f"{target.latest or 'the newest image'} requested")
    deadline = clock() + timeout
    while clock() < deadline:
        waiting = [t for t in targets if t.result is None]
        if not waiting:
            break
        for target in waiting:
            if not target.offered and clock() - target.asked_at > OFFER_WAIT:
                target.result = ("failed: the gateway did not offer an update (is it running, "
                                 "with an image? may this user write the install topic?)")
        drain(min(deadline, clock() + 0.5))
    if any(t.result == STOPPED for t in targets):
        drain(clock() + 1.0)        # the node's failure report may follow the state
    for target in targets:
        if target.result is None:
            target.result = f"failed: not finished within {timeout:g} s"
        if target.result == "done":
            click.echo(f"{target.name}: now runs firmware {target.installed}")
        elif target.result.startswith("failed"):
            click.echo(f"{target.name}: update to {target.latest or '?'} "
                       f"{target.result}", err=True)
    return targets


def update_command(announcements: Callable[..., dict[str, bytes]],
                   client_for: Callable[[BrokerURL], mqtt.Client],
                   connect: Callable[[mqtt.Client, BrokerURL], None],
                   broker_url_type: click.ParamType, default_broker: str) -> click.Command:
    """``gateway node update``."""

    @click.command("update")
    @click.argument("name", required=False)
    @click.option("--all", "all_nodes", is_flag=True, help="Every announced node.")
    @click.option("--broker", "url", type=broker_url_type, default=default_broker,
                  show_default=True, help="The gateway's broker.")
    @click.option("--prefix", default="home", show_default=True, help="[gateway] topic_prefix.")
    @click.option("--timeout", type=click.FloatRange(min=1), default=600.0, show_default=True,
                  help="Seconds to wait for the nodes to finish.")
    def update(name: str | None, all_nodes: bool, url: BrokerURL, prefix: str,
               timeout: float) -> None:
        """Update node NAME (or --all) to the newest firmware the gateway has.

        Prints the progress; exits 1 when an update fails or does not finish in time. A
        node in deep sleep installs at its next wake-up: give it a --timeout longer than
        its sleep."""
        if bool(name) == all_nodes:
            raise click.UsageError("give a node NAME or --all")
        client = client_for(url)
        connect(client, url)
        try:
            found = announcements(client, prefix, name or "+")
            if not found:
                raise click.ClickException(f"no node {name!r} has announced itself on {url}"
                                           if name else f"no node has announced itself on {url}")
            targets = update_nodes(client, prefix, found, timeout)
        finally:
            client.disconnect()
            client.loop_stop()
        if any(t.result and t.result.startswith("failed") for t in targets):
            raise SystemExit(1)

    return update


def firmware_group() -> click.Group:
    """``gateway node firmware list|add|remove``."""

    @click.group("firmware")
    def firmware() -> None:
        """The node firmware images the gateway offers."""

    data_dir_option = click.option(
        "--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
        help="The gateway's data directory ([gateway] data_dir); default $STATE_DIRECTORY, "
             f"{APPLIANCE_DATA_DIR} on the appliance, else ~/.local/state/sensor-gateway.")

    @firmware.command("list")
    @data_dir_option
    def list_images(data_dir: Path | None) -> None:
        """The stored images, oldest first; the last one is offered."""
        store = FirmwareStore.for_data_dir(data_dir or default_data_dir())
        images = store.images()
        if not images:
            click.echo(f"no node firmware images (add one: gateway node firmware add "
                       f"FILE; looked in {store.user_dir} and "
                       f"{', '.join(str(d) for d in store.shipped_dirs)})")
            return
        for image in images:
            click.echo(f"{image.version}  {image.size} bytes  md5 {image.md5}  {image.path}")

    @firmware.command("add")
    @click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--version", default=None,
                  help="The image's version; default from its name (node-<version>.bin).")
    @data_dir_option
    def add(file: Path, version: str | None, data_dir: Path | None) -> None:
        """Check FILE (an ESP8266 .bin) and store it for nodes to install."""
        store = FirmwareStore.for_data_dir(data_dir or default_data_dir())
        try:
            image = store.add(file, version)
        except BadImage as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            raise click.ClickException(f"cannot store the image in {store.user_dir}: "
                                       f"{exc.strerror or exc}") from None
        click.echo(f"stored firmware {image.version} ({image.size} bytes, md5 {image.md5}) "
                   f"as {image.path}")

    @firmware.command("remove")
    @click.argument("version")
    @data_dir_option
    def remove(version: str, data_dir: Path | None) -> None:
        """Delete the stored image of VERSION (a wrong or broken one): nodes are offered
        the newest that remains from then on."""
        store = FirmwareStore.for_data_dir(data_dir or default_data_dir())
        try:
            image = store.remove(version)
        except BadImage as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            raise click.ClickException(f"cannot remove firmware {version}: "
                                       f"{exc.strerror or exc}") from None
        newest = store.newest()
        click.echo(f"removed firmware {image.version} ({image.path}); offered now: "
                   f"{newest.version if newest else 'nothing'}")

    return firmware
