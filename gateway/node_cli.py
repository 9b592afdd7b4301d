"""``gateway node list`` and ``gateway node forget NAME``: the ESP8266 nodes the gateway
knows from their announcements (retained on <prefix>/<room>/<node>/announce);
``gateway node flash PORT [IMAGE]``: writes a firmware image over the USB cable with
esptool (the ``flash`` extra); and ``gateway node setup PORT`` (gateway/node_setup.py),
``gateway node update`` and ``gateway node firmware`` (gateway/node_update_cli.py)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import click
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.cli_refusals import refused_reason, subscription_refused
from gateway.mqtt_url import BrokerURL
from gateway.node_announcement import ANNOUNCE_SUFFIX, BadAnnouncement, parse_announcement
from gateway.node_firmware import (
    BadImage,
    FirmwareStore,
    build_output_dirs,
    check_image,
    default_shipped_dirs,
)
from gateway.node_setup import open_error, setup_command
from gateway.node_update_cli import default_data_dir, firmware_group, update_command

#: how long to collect retained announcements; the broker sends them right after SUBACK
RETAINED_WAIT = 2.0


def _announcements(client: mqtt.Client, prefix: str, node: str = "+") -> dict[str, bytes]:
    """topic -> payload of the retained announcements (of ``node``, or all)."""
    found: dict[str, bytes] = {}
    subscribed = threading.Event()
    refused: list[str] = []
    denied: list[str] = []
    topic_filter = f"{prefix}/+/{node}/{ANNOUNCE_SUFFIX}"

    def on_connect(client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags,
                   reason_code: ReasonCode, properties: Properties | None) -> None:
        if reason_code.is_failure:
            refused.append(str(reason_code))
            subscribed.set()
            return
        client.subscribe(topic_filter, qos=1)

    def on_subscribe(client: mqtt.Client, userdata: object, mid: int,
                     reason_codes: list[ReasonCode], properties: Properties | None) -> None:
        reason = refused_reason(reason_codes)
        if reason is not None:
            denied.append(reason)
        subscribed.set()

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        if message.retain and message.payload:
            found[message.topic] = message.payload

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.loop_start()
    subscribed.wait(10)
    if refused:
        raise click.ClickException(f"the broker refused the connection: {refused[0]}")
    if denied:
        raise subscription_refused("the broker", topic_filter, denied[0])
    threading.Event().wait(RETAINED_WAIT)
    return found


class FlashError(click.ClickException):
    """Flashing could not start or did not finish; the message says what to do."""


#: esptool talks to the ROM boot loader at this rate before its stub raises it to --baud
ROM_BAUD = 115200


def flash_image(port: str, data: bytes, baud: int = 460800, erase: bool = False,
                reset: bool = True) -> str:
    """Writes ``data`` (a whole node image) at flash offset 0x0 of the ESP8266 on ``port``
    through its ROM boot loader and esptool's flasher stub, checks the MD5 the stub reads
    back, and restarts the node; returns the chip's description.

    ``reset=False`` is for boards without the auto-reset circuit: the user holds FLASH
    while pressing RST before, and presses RST after."""
    try:
        from esptool.cmds import attach_flash, detect_chip, reset_chip, run_stub, write_flash
        from esptool.util import FatalError
    except ImportError:
        raise FlashError("esptool is not installed: pip install esptool "
                         "(or the gateway's `flash` extra)") from None
    if not os.path.exists(port):
        raise FlashError(f"no serial port {port}: is the node plugged in? "
                         "(ls /dev/ttyUSB* /dev/ttyACM*)")
    mode = "default-reset" if reset else "no-reset"
    try:
        esp = detect_chip(port, ROM_BAUD, connect_mode=mode)
    except (FatalError, OSError) as exc:
        if "could not open" in str(exc).lower() or isinstance(exc, OSError):
            raise FlashError(open_error(port, exc)) from None
        raise FlashError(
            f"no ESP8266 boot loader answered on {port} ({exc}). Is it an ESP8266 board "
            "(NodeMCU, D1 mini)? Without auto-reset: hold FLASH, press RST, release FLASH, "
            "and use --no-reset.") from None
    with esp:   # closes the port, which the stub's loader below shares
        if esp.CHIP_NAME != "ESP8266":
            raise FlashError(f"{port} has an {esp.CHIP_NAME}, not an ESP8266: the node "
                             "firmware is built for ESP8266 boards (NodeMCU, D1 mini)")
        try:
            chip = esp.get_chip_description()
            stub = run_stub(esp)
            if baud != ROM_BAUD:
                stub.change_baud(baud)
            attach_flash(stub)
            # "keep": the image's header already says DIO, 40 MHz, 4 MB (firmware/xtensa).
            write_flash(stub, [(0x0, data)], flash_freq="keep", flash_mode="keep",
                        flash_size="keep", erase_all=erase)
            reset_chip(stub, "hard-reset" if reset else "no-reset")
        except FatalError as exc:
            raise FlashError(f"flashing the node on {port} failed: {exc}") from None
    return chip


def flash_command() -> click.Command:
    @click.command("flash")
    @click.argument("port")
    @click.argument("image", required=False,
                    type=click.Path(dir_okay=False, exists=True, path_type=Path))
    @click.option("--baud", type=click.IntRange(9600, 921600), default=460800,
                  show_default=True, help="Baud rate once esptool's stub runs; lower it "
                  "(115200) on long or poor cables.")
    @click.option("--erase", is_flag=True,
                  help="Erase the whole flash first: the node's settings go too.")
    @click.option("--no-reset", "no_reset", is_flag=True,
                  help="The board is already in its boot loader (boards without auto-reset: "
                       "hold FLASH, press RST); press RST after flashing.")
    @click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                  default=None, help="The gateway's data directory, whose firmware store "
                  "gives the image when IMAGE is left out.")
    def flash(port: str, image: Path | None, baud: int, erase: bool, no_reset: bool,
              data_dir: Path | None) -> None:
        """Write the node firmware to the ESP8266 on serial PORT (e.g. /dev/ttyUSB0).

        IMAGE defaults to the newest image of the gateway's firmware store (`gateway node
        firmware list`: the gateway's own, the one shipped with it, or out/ after `make
        firmware` in a checkout). Then set the node up: gateway node setup PORT ..."""
        if image is None:
            # The gateway's store, and in a source checkout the fresh `make firmware` output
            # first among the shipped ones (a user-added image of the same version wins).
            store = FirmwareStore.for_data_dir(data_dir or default_data_dir(),
                                               (*build_output_dirs(), *default_shipped_dirs()))
            newest = store.newest()
            if newest is None:
                raise FlashError(
                    f"no node firmware image to flash (looked in {store.user_dir} and "
                    f"{', '.join(str(d) for d in store.shipped_dirs)}): build one with "
                    "`make firmware`, or give IMAGE")
            image, label = newest.path, f"firmware {newest.version}"
        else:
            label = str(image)
        data = image.read_bytes()
        try:
            check_image(data, str(image))
        except BadImage as exc:
            raise FlashError(str(exc)) from None
        click.echo(f"flashing {label} ({len(data)} bytes, {image}) to {port}")
        chip = flash_image(port, data, baud=baud, erase=erase, reset=not no_reset)
        click.echo(f"flashed {label} to the {chip} on {port}"
                   + ("; press RST to start it" if no_reset else "; it restarts now"))

    return flash


def node_commands(client_for: Callable[[BrokerURL], mqtt.Client],
                  connect: Callable[[mqtt.Client, BrokerURL], None],
                  broker_url_type: click.ParamType, default_broker: str) -> click.Group:
    """The ``node`` command group, built with the main CLI's broker helpers."""

    @click.group("node")
    def node() -> None:
        """ESP8266 nodes: flash and set them up over the cable, update, list and forget
        them."""

    node.add_command(setup_command())
    node.add_command(update_command(_announcements, client_for, connect, broker_url_type,
                                    default_broker))
    node.add_command(firmware_group())
    node.add_command(flash_command())

    @node.command("list")
    @click.option("--broker", "url", type=broker_url_type, default=default_broker,
                  show_default=True, help="The gateway's broker.")
    @click.option("--prefix", default="home", show_default=True, help="[gateway] topic_prefix.")
    def list_nodes(url: BrokerURL, prefix: str) -> None:
        """One line per announced node: name, room, firmware, transport, outputs."""
        client = client_for(url)
        connect(client, url)
        try:
            found = _announcements(client, prefix)
        finally:
            client.disconnect()
            client.loop_stop()
        for topic, payload in sorted(found.items()):
            try:
                n = parse_announcement(prefix, topic, payload)
            except BadAnnouncement as exc:
                click.echo(f"{topic}: unusable announcement: {exc}")
                continue
            outputs = ", ".join(name for name, _ in n.outputs) or "-"
            click.echo(f"{n.node_id}  room={n.room}  firmware={n.firmware}  "
                       f"via={n.transport}  outputs={outputs}")

    @node.command("forget")
    @click.argument("name")
    @click.option("--broker", "url", type=broker_url_type, default=default_broker,
                  show_default=True, help="The gateway's broker.")
    @click.option("--prefix", default="home", show_default=True, help="[gateway] topic_prefix.")
    def forget(name: str, url: BrokerURL, prefix: str) -> None:
        """Remove node NAME from Home Assistant and the dashboard.

        Withdraws the node's announcement; the running gateway then removes its discovery
        configs and retained values. A node still powered announces itself again at its
        next connection: unplug or reflash it first."""
        client = client_for(url)
        connect(client, url)
        try:
            found = _announcements(client, prefix, name)
            if not found:
                raise click.ClickException(f"no node {name!r} has announced itself on {url}")
            for topic in found:
                info = client.publish(topic, b"", qos=1, retain=True)
                info.wait_for_publish(timeout=10)
                if not info.is_published():
                    raise click.ClickException(f"{url} did not acknowledge the removal")
        finally:
            client.disconnect()
            client.loop_stop()
        click.echo(f"forgot node {name}")

    return node
