"""``gateway node list`` and ``gateway node forget NAME``: the ESP8266 nodes the gateway
knows from their announcements (retained on <prefix>/<room>/<node>/announce); and
``gateway node setup PORT`` (gateway/node_setup.py), ``gateway node update`` and
``gateway node firmware`` (gateway/node_update_cli.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import click
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.mqtt_url import BrokerURL
from gateway.node_announcement import ANNOUNCE_SUFFIX, BadAnnouncement, parse_announcement
from gateway.node_setup import setup_command
from gateway.node_update_cli import firmware_group, update_command

#: how long to collect retained announcements; the broker sends them right after SUBACK
RETAINED_WAIT = 2.0


def _announcements(client: mqtt.Client, prefix: str, node: str = "+") -> dict[str, bytes]:
    """topic -> payload of the retained announcements (of ``node``, or all)."""
    found: dict[str, bytes] = {}
    subscribed = threading.Event()
    refused: list[str] = []

    def on_connect(client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags,
                   reason_code: ReasonCode, properties: Properties | None) -> None:
        if reason_code.is_failure:
            refused.append(str(reason_code))
            subscribed.set()
            return
        client.subscribe(f"{prefix}/+/{node}/{ANNOUNCE_SUFFIX}", qos=1)

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        if message.retain and message.payload:
            found[message.topic] = message.payload

    client.on_connect = on_connect
    client.on_subscribe = lambda *args: subscribed.set()
    client.on_message = on_message
    client.loop_start()
    subscribed.wait(10)
    if refused:
        raise click.ClickException(f"the broker refused the connection: {refused[0]}")
    threading.Event().wait(RETAINED_WAIT)
    return found


def node_commands(client_for: Callable[[BrokerURL], mqtt.Client],
                  connect: Callable[[mqtt.Client, BrokerURL], None],
                  broker_url_type: click.ParamType, default_broker: str) -> click.Group:
    """The ``node`` command group, built with the main CLI's broker helpers."""

    @click.group("node")
    def node() -> None:
        """ESP8266 nodes: set them up over the cable, update, list and forget them."""

    node.add_command(setup_command())
    node.add_command(update_command(_announcements, client_for, connect, broker_url_type,
                                    default_broker))
    node.add_command(firmware_group())

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
