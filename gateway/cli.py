"""The ``gateway`` command: run, check, sub, pub, node (and the broker's own commands)."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import sys
import threading
from pathlib import Path

import click
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.cli_refusals import refused_reason, subscription_refused
from gateway.config import Config, ConfigErrors, load_config
from gateway.drivers.base import driver_spec
from gateway.mqtt_url import BrokerURL, parse_broker_url
from gateway.system.cli import system_command
from gateway.topics import channel_topics

DEFAULT_BROKER = "mqtt://localhost:1883"
LOG_LEVELS = ["debug", "info", "warning", "error"]


class _BrokerURLType(click.ParamType):
    name = "URL"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> BrokerURL:
        if isinstance(value, BrokerURL):
            return value
        try:
            return parse_broker_url(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


BROKER_URL = _BrokerURLType()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sensor-gateway")
def main() -> None:
    """Raspberry Pi sensor gateway with an embedded MQTT broker.

    Start with `gateway run --config gateway/example.toml`; on a machine without GPIO the
    pins and sensors are simulated."""


@main.command()
@click.option("--config", "-c", "config_path", required=True,
              type=click.Path(dir_okay=False, path_type=str),
              help="The gateway's TOML config file.")
@click.option("--broker", "broker_url", default=None, metavar="URL",
              help="Run the drivers against this external broker (mqtt://host:port, "
                   "mqtts://..., user:password@ allowed) instead of the embedded one.")
@click.option("--host", default=None,
              help="Address the embedded broker listens on (overrides [broker] host).")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="TCP port of the embedded broker (overrides [broker] port; 0 picks a "
                   "free one).")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False, path_type=str),
              help="Where the gateway keeps its state (overrides [gateway] data_dir).")
@click.option("--hardware", type=click.Choice(["auto", "real", "simulated"]), default=None,
              help="Real GPIO, simulated pins and sensors, or auto (real on a Raspberry Pi; "
                   "overrides [gateway] hardware).")
@click.option("--dashboard-port", type=click.IntRange(0, 65535), default=None,
              help="Serve the web dashboard on this port (80 on the appliance; 0 picks a "
                   "free one); needs the embedded broker.")
@click.option("--dashboard-host", default=None,
              help="Address the dashboard listens on (default: where the broker listens).")
@click.option("--log-level", type=click.Choice(LOG_LEVELS), default="info", show_default=True,
              help="Logging verbosity.")
def run(config_path: str, broker_url: str | None, host: str | None, port: int | None,
        data_dir: str | None, hardware: str | None, dashboard_port: int | None,
        dashboard_host: str | None, log_level: str) -> None:
    """Run the broker and the drivers on one event loop until Ctrl-C or SIGTERM."""
    from gateway.serve import RunOptions
    from gateway.serve import run as serve

    logging.basicConfig(level=log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = _load_or_exit(config_path)
    if broker_url is not None:
        BROKER_URL.convert(broker_url, None, None)  # fail early with a usage error
    options = RunOptions(broker_url=broker_url, host=host, port=port, data_dir=data_dir,
                         hardware=hardware, dashboard_port=dashboard_port,
                         dashboard_host=dashboard_host)
    try:
        asyncio.run(serve(config, options))
    except OSError as exc:
        raise click.ClickException(f"cannot start: {exc}") from exc
    except sqlite3.Error as exc:  # only the broker's store is not optional
        from broker.store.persistence import FILE_NAME

        store = Path(str(config.broker.get("data_dir", ""))) / FILE_NAME
        raise click.ClickException(f"cannot start: the broker's store {store}: {exc}") from exc


@main.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False, path_type=str))
def check(config_path: str) -> None:
    """Validate CONFIG and report every error (file:line: key: problem); exit 1 if any."""
    config = _load_or_exit(config_path)
    topics = 0
    for sensor in config.sensors:
        spec = driver_spec(sensor.driver)
        assert spec is not None
        topics += sum(len(channel_topics(config.gateway.topic_prefix, sensor, spec, c).all())
                      for c in spec.channels(sensor.driver))
    click.echo(f"{config_path}: OK ({len(config.sensors)} sensors, {topics} topics)")


def _load_or_exit(path: str) -> Config:
    try:
        return load_config(path)
    except ConfigErrors as exc:
        for error in exc.errors:
            click.echo(str(error), err=True)
        count = len(exc.errors)
        click.echo(f"{count} error{'s' if count != 1 else ''} in {path}", err=True)
        if any(error.key == "system" for error in exc.errors):
            # The appliance's boot-partition file: [system] is first boot's, not the gateway's.
            click.echo(f"{path} has a [system] table, so it is the SD card's boot-partition "
                       f"file: check it with `{sys.executable} -m gateway.firstboot --check {path}`",
                       err=True)
        sys.exit(1)


def _client(url: BrokerURL) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv311)
    if url.username:
        client.username_pw_set(url.username, url.password)
    if url.tls:
        client.tls_set()
    return client


def _connect(client: mqtt.Client, url: BrokerURL) -> None:
    try:
        client.connect(url.host, url.port, keepalive=30)
    except OSError as exc:
        raise click.ClickException(f"cannot connect to {url}: {exc}") from exc


@main.command()
@click.argument("topic_filter", metavar="FILTER")
@click.option("--broker", "url", type=BROKER_URL, default=DEFAULT_BROKER, show_default=True,
              help="Broker to subscribe at.")
@click.option("--count", "-n", type=click.IntRange(min=1), default=None,
              help="Exit after this many messages.")
@click.option("--timeout", "-W", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Exit after this many seconds.")
@click.option("--retained-flag", "-r", is_flag=True,
              help="Mark retained messages with (retained).")
def sub(topic_filter: str, url: BrokerURL, count: int | None, timeout: float | None,
        retained_flag: bool) -> None:
    """Print messages matching FILTER as `topic payload` lines.

    Example: gateway sub 'home/#'"""
    received = 0
    refused: list[str] = []
    denied: list[str] = []
    done = threading.Event()
    reader_gone = threading.Event()
    client = _client(url)

    def on_connect(client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags,
                   reason_code: ReasonCode, properties: Properties | None) -> None:
        if reason_code.is_failure:
            refused.append(str(reason_code))
            done.set()
            return
        client.subscribe(topic_filter, qos=1)

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        nonlocal received
        if done.is_set():
            # Messages read together with the last counted one (a burst of retained values)
            # arrive before the disconnect: --count is a promise of how many lines.
            return
        payload = message.payload.decode("utf-8", errors="replace")
        mark = " (retained)" if retained_flag and message.retain else ""
        try:
            click.echo(f"{message.topic} {payload}{mark}")
        except BrokenPipeError:
            # The reader went away (`gateway sub ... | head`): stop, as a filter does.
            reader_gone.set()
            done.set()
            return
        received += 1
        if count is not None and received >= count:
            done.set()

    def on_subscribe(client: mqtt.Client, userdata: object, mid: int,
                     reason_codes: list[ReasonCode], properties: Properties | None) -> None:
        reason = refused_reason(reason_codes)
        if reason is not None:
            denied.append(reason)
            done.set()

    client.on_connect = on_connect
    client.on_message = on_message
    client.on_subscribe = on_subscribe
    _connect(client, url)
    client.loop_start()
    try:
        done.wait(timeout)
    except KeyboardInterrupt:
        pass
    finally:
        client.disconnect()
        client.loop_stop()
    if reader_gone.is_set():
        # What is still buffered for stdout cannot be written; without this Python reports
        # the broken pipe again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    if refused:
        raise click.ClickException(f"{url} refused the connection: {refused[0]}")
    if denied:
        raise subscription_refused(url, topic_filter, denied[0])


@main.command()
@click.argument("topic")
@click.argument("value")
@click.option("--broker", "url", type=BROKER_URL, default=DEFAULT_BROKER, show_default=True,
              help="Broker to publish to.")
@click.option("--retain", is_flag=True, help="Ask the broker to keep the message.")
@click.option("--qos", type=click.IntRange(0, 2), default=1, show_default=True,
              help="Quality of service.")
def pub(topic: str, value: str, url: BrokerURL, retain: bool, qos: int) -> None:
    """Publish VALUE to TOPIC.

    Example: gateway pub home/hall/relay/set ON"""
    client = _client(url)
    _connect(client, url)
    client.loop_start()
    try:
        info = client.publish(topic, value, qos=qos, retain=retain)
        info.wait_for_publish(timeout=10)
        if not info.is_published():
            raise click.ClickException(f"{url} did not acknowledge the message")
    finally:
        client.disconnect()
        client.loop_stop()


def _add_broker_commands() -> None:
    from gateway.node_cli import node_commands

    main.add_command(node_commands(_client, _connect, BROKER_URL, DEFAULT_BROKER))
    from broker.cli import broker_command

    main.add_command(broker_command, "broker")
    from broker.auth.passwd_cli import passwd_command

    main.add_command(passwd_command, "passwd")


_add_broker_commands()
main.add_command(system_command, "system")
