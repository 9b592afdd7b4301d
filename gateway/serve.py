"""``gateway run``: the embedded broker (or an external one) and the drivers on one loop.

The composition root of the gateway program: :func:`run` starts every part (the broker,
its bridges, the dashboard, the bus and drivers, the serial bridge) and stops them in
reverse order. ``python -m broker`` has its own, broker.cli.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.bus.base import Bus
from gateway.config.model import Config
from gateway.hardware import Hardware, select_hardware
from gateway.mqtt_url import parse_broker_url
from gateway.runtime.activity import simulate_inputs
from gateway.runtime.app import Gateway

if TYPE_CHECKING:
    from broker import Broker
    from gateway.dashboard import Dashboard
    from gateway.node_firmware import FirmwareStore
    from gateway.runtime.firmware_server import FirmwareServer
    from gateway.runtime.node_updates import NodeUpdates
    from gateway.serial import SerialBridge

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """Command-line overrides of the config."""

    broker_url: str | None = None
    host: str | None = None
    port: int | None = None
    data_dir: str | None = None
    hardware: str | None = None
    #: serve the web dashboard on this port (None: no dashboard; needs the embedded broker)
    dashboard_port: int | None = None
    dashboard_host: str | None = None


def data_dir_for(config: Config, override: str | None) -> Path:
    """--data-dir, else [gateway] data_dir, else systemd's $STATE_DIRECTORY, else
    ~/.local/state/sensor-gateway."""
    chosen = override or config.gateway.data_dir or os.environ.get("STATE_DIRECTORY", "")
    if chosen:
        return Path(chosen).expanduser()
    return Path.home() / ".local" / "state" / "sensor-gateway"


async def run(config: Config, options: RunOptions, stop: asyncio.Event | None = None,
              hardware: Hardware | None = None,
              on_ready: Callable[[], None] | None = None) -> None:
    """Run until ``stop`` is set or SIGINT/SIGTERM arrives (signals only when on the main
    thread). ``hardware`` replaces the detected hardware (tests pass a MockFactory);
    ``on_ready`` is called once the broker, the bus and every driver are running."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    hardware = hardware or select_hardware(options.hardware or config.gateway.hardware)
    broker, bus = await _start_bus(config, options)
    gateway = Gateway(config, bus, hardware, data_dir_for(config, options.data_dir))
    activity = None
    dashboard = None
    serial = None
    updates: NodeUpdates | None = None
    images: FirmwareServer | None = None
    reloader = _Reloader(config, broker, gateway)
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGHUP, reloader.request)
    try:
        if broker is not None and broker.config.bridge_config:
            from broker.bridge import start_bridges

            broker.bridges = start_bridges(broker, broker.config.bridge_config)
        if broker is not None and options.dashboard_port is not None:
            # Before the drivers: it then sees their first values live, with a time.
            dashboard = await _start_dashboard(config, options, broker)
        await bus.start()
        await gateway.start()
        reloader.ready = True
        updates, images = await _start_node_updates(config, options, broker, bus, gateway)
        serial = await _start_serial(config, options, broker, hardware, updates.store)
        if hardware.activity:
            activity = asyncio.create_task(simulate_inputs(hardware.pin_factory,
                                                           list(config.sensors)))
        if broker is not None:
            _add_gateway_metrics(broker, gateway, serial)
        where = f"external broker {options.broker_url or config.mqtt.url}" if broker is None \
            else f"embedded broker on {', '.join(broker.listening)}"
        log.info("gateway running: %d sensors, %s%s", len(config.sensors), where,
                 " (simulated hardware)" if hardware.simulated else "")
        if on_ready is not None:
            on_ready()
        await stop.wait()
    finally:
        log.info("stopping")
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGHUP)
        await reloader.wait()
        if activity is not None:
            activity.cancel()
        if serial is not None:
            await serial.stop()
        if images is not None:
            await images.stop()
        if updates is not None:
            updates.close()
        if dashboard is not None:
            await dashboard.stop()
        await gateway.stop()
        await bus.stop()
        if broker is not None:
            if broker.bridges:
                from broker.bridge import stop_bridges

                await stop_bridges(broker.bridges)
                broker.bridges = []
            await broker.stop()


def _add_gateway_metrics(broker: Broker, gateway: Gateway,
                         serial: SerialBridge | None) -> None:
    """Sensors and serial ports join the broker's metrics (the dashboard's /metrics)."""
    from broker.metrics import registry_of
    from gateway.metrics import GatewayCollector

    registry_of(broker).register(GatewayCollector(gateway, serial))


async def _start_node_updates(config: Config, options: RunOptions, broker: Broker | None,
                              bus: Bus, gateway: Gateway
                              ) -> tuple[NodeUpdates, FirmwareServer | None]:
    """The nodes' firmware updates: the offers on the bus and the HTTP image server. The
    server failing to start (port taken) is logged; nodes on cables still update."""
    from gateway.node_firmware import FirmwareStore
    from gateway.runtime.firmware_server import FirmwareServer, lan_address
    from gateway.runtime.node_updates import NodeUpdates

    settings = config.nodes
    store = FirmwareStore.for_data_dir(data_dir_for(config, options.data_dir))
    server = None
    if settings.firmware_port:
        host = options.host if options.host is not None else (
            broker.config.host if broker is not None else "")
        candidate = FirmwareServer(store, settings.firmware_port,
                                   None if host in ("", "0.0.0.0", "::") else host)
        try:
            await candidate.start()
            server = candidate
        except OSError as exc:
            log.error("cannot serve node firmware on port %d: %s; WiFi nodes cannot update "
                      "until it is free ([nodes] firmware_port)", settings.firmware_port, exc)
    base_url = settings.firmware_url or (
        f"http://{lan_address()}:{server.port if server else settings.firmware_port}")
    updates = NodeUpdates(bus, config.gateway.topic_prefix, store, base_url)
    updates.start({(n.room, n.node_id): n.firmware for n in gateway.nodes.nodes.values()})
    bus.on_connected(updates.republish)
    return updates, server


async def _start_serial(config: Config, options: RunOptions, broker: Broker | None,
                        hardware: Hardware, firmware: FirmwareStore | None = None
                        ) -> SerialBridge | None:
    """ESP8266 nodes on USB serial cables: into the embedded broker, or relayed over TCP."""
    settings = config.serial
    autodetect = settings.autodetect
    if autodetect is None:
        # Opening every USB serial port is right on the appliance, not on a laptop.
        autodetect = not hardware.simulated
    if not settings.enabled or not (settings.ports or autodetect):
        return None
    from gateway.serial import SerialBridge, TcpRelay

    target: Any = broker
    if broker is None:
        url = parse_broker_url(options.broker_url or config.mqtt.url)
        target = TcpRelay(url.host, url.port)
    bridge = SerialBridge(target, list(settings.ports), settings.baudrate, autodetect,
                          exclude=settings.exclude, firmware=firmware)
    await bridge.start()
    return bridge


async def _start_dashboard(config: Config, options: RunOptions, broker: Broker) -> Dashboard:
    """The web dashboard on the embedded broker, with the broker's users."""
    from gateway.dashboard import Dashboard
    from gateway.dashboard.auth import password_file_of
    from gateway.dashboard.backup_routes import enable_backups
    from gateway.dashboard.https import listener_context

    # Where the broker listens, the dashboard listens: loopback stays loopback; "every
    # IPv4 address" becomes every address, so phones resolving <host>.local to IPv6 get in.
    host = options.dashboard_host or broker.config.host
    dashboard = Dashboard(broker, options.dashboard_port or 0,
                          None if host in ("", "0.0.0.0", "::") else host,
                          data_dir_for(config, options.data_dir),
                          password_file_of(config.broker),
                          topic_prefix=config.gateway.topic_prefix,
                          discovery_prefix=config.gateway.discovery_prefix,
                          ssl_context=listener_context(broker))
    enable_backups(dashboard, config, data_dir_for(config, options.data_dir))
    await dashboard.start()
    return dashboard


async def _start_bus(config: Config, options: RunOptions) -> tuple[Broker | None, Bus]:
    """The bus to publish to, and the embedded broker behind it unless external."""
    url = options.broker_url or config.mqtt.url
    if url:
        from gateway.bus.paho import PahoBus

        mqtt = config.mqtt
        bus: Bus = PahoBus(parse_broker_url(url), config.gateway.status_topic,
                           client_id=mqtt.client_id or f"gateway-{config.gateway.node_id}",
                           keepalive=mqtt.keepalive, username=mqtt.username or None,
                           password=mqtt.password or None)
        return None, bus
    from broker import Broker, BrokerConfig
    from gateway.bus.embedded import EmbeddedBus

    settings = dict(config.broker)
    if options.host is not None:
        settings["host"] = options.host
    if options.port is not None:
        settings["port"] = options.port
    broker = Broker(BrokerConfig(**settings))
    await broker.start()
    return broker, EmbeddedBus(broker, config.gateway.status_topic)


class _Reloader:
    """`systemctl reload` / kill -HUP: the broker re-reads its password and ACL files
    (every client stays connected), then the gateway re-reads its config file (see
    gateway.runtime.reload). One reload at a time; none before the sensors run."""

    def __init__(self, config: Config, broker: Broker | None, gateway: Gateway) -> None:
        self.config = config
        self.broker = broker
        self.gateway = gateway
        self.ready = False
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def request(self) -> None:
        """The signal handler."""
        if self._task is not None and not self._task.done():
            self._again = True  # an edit made while reloading is read once more after
            return
        self._task = asyncio.create_task(self._run(), name="reload")

    async def _run(self) -> None:
        from gateway.runtime.reload import reload_config

        self._again = True
        while self._again:
            self._again = False
            try:
                if self.broker is not None:
                    self.broker.reload()
                if self.ready:
                    self.config = await reload_config(self.config, self.gateway)
            except Exception:  # a reload must never take the running gateway down
                log.exception("reload failed; the running config stays in force")

    async def wait(self) -> None:
        """Let a reload in progress finish (before the gateway stops)."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
