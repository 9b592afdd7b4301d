"""SerialBridge: every configured or auto-detected serial port becomes a broker transport.

Usage (``gateway run`` does this when serial nodes are enabled)::

    from gateway.serial import SerialBridge

    bridge = SerialBridge(broker, ports=None, baudrate=115200, autodetect=True)
    await bridge.start()      # opens the ports present now; watches for hot-plug
    ...
    bridge.counters()         # {port path: PortCounters}
    await bridge.stop()       # tells connected nodes CLOSE, closes the ports

``broker`` is anything with ``protocol_factory(listener=...)`` returning an asyncio.Protocol
(broker.Broker, see docs/contracts.md "Byte-stream transports"). Each node connection is
handed to that protocol exactly like a TCP connection, with listener "serial" and peername
"serial:<port path>". With a broker in another process, pass ``TcpRelay(host, port)``
(gateway.serial.tcp_relay) instead: each node connection then becomes a TCP connection.

Other options: ``exclude`` (glob patterns of ports never to open, e.g. a Zigbee stick),
``patterns`` (what auto-detection scans), ``rescan_interval`` (seconds), ``max_packet``
(largest MQTT packet accepted from a node), ``listener`` (the name the broker sees),
``firmware`` (a gateway.node_firmware.FirmwareStore: nodes read update images from it over
the link with UPDATE_READ frames).

Hot-plug: a port that fails (unplugged) ends its node's connection, so the broker publishes
the node's will; every ``rescan_interval`` seconds the bridge opens configured ports that
came back and, with ``autodetect``, any new port matching ``patterns``. Garbage, a wrong
baud rate, half frames and floods are counted and logged (rate-limited), never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import serial

from .counters import PortCounters
from .link import DEFAULT_MAX_PACKET, ImageSource, NodeLink
from .port import SerialPort
from .port_scan import DEFAULT_PATTERNS, device_key, find_ports

log = logging.getLogger("gateway.serial")


class ProtocolFactory(Protocol):
    """The part of broker.Broker the bridge uses."""

    def protocol_factory(self, listener: str = ...) -> asyncio.Protocol: ...


class SerialBridge:
    """Serial ports -> MQTT connections of ``broker``; see the module docstring."""

    def __init__(
        self,
        broker: ProtocolFactory,
        ports: Sequence[str] | None = None,
        baudrate: int = 115200,
        autodetect: bool = True,
        *,
        listener: str = "serial",
        patterns: Sequence[str] = DEFAULT_PATTERNS,
        exclude: Iterable[str] = (),
        rescan_interval: float = 2.0,
        max_packet: int = DEFAULT_MAX_PACKET,
        serial_factory: Any = serial.Serial,
        firmware: ImageSource | None = None,
    ) -> None:
        self.broker = broker
        self.configured = list(ports or [])
        self.baudrate = baudrate
        self.autodetect = autodetect
        self.listener = listener
        self.patterns = tuple(patterns)
        self.exclude = tuple(exclude)
        self.rescan_interval = rescan_interval
        self.max_packet = max_packet
        self._serial_factory = serial_factory
        self.firmware = firmware
        self._open: dict[str, tuple[SerialPort, NodeLink]] = {}
        self._counters: dict[str, PortCounters] = {}
        self._open_errors: dict[str, str] = {}  # path -> last error logged, to log it once
        self._task: asyncio.Task[None] | None = None
        self._running = False

    # --- public API -------------------------------------------------------------------------

    async def start(self) -> None:
        """Opens the ports present now and starts watching for ports coming and going."""
        if self._running:
            return
        self._running = True
        self.scan()
        self._task = asyncio.get_running_loop().create_task(self._rescan_forever())
        log.info(
            "serial bridge: %d port(s) open, configured %s, autodetect %s",
            len(self._open),
            self.configured or "none",
            "on" if self.autodetect else "off",
        )

    async def stop(self) -> None:
        """Ends every node connection (the nodes get CLOSE) and closes the ports."""
        self._running = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for path in list(self._open):
            port, link = self._open.pop(path)
            link.close()
            port.close()

    @property
    def open_ports(self) -> list[str]:
        """Paths of the ports open now."""
        return list(self._open)

    def link(self, path: str) -> NodeLink | None:
        """The link of an open port (its ``session`` is the node's connection, if any)."""
        entry = self._open.get(path)
        return entry[1] if entry else None

    def counters(self) -> dict[str, PortCounters]:
        """Counters per port path, including ports unplugged since."""
        return dict(self._counters)

    def totals(self) -> PortCounters:
        """All ports' counters added up."""
        total = PortCounters()
        for counters in self._counters.values():
            total.add(counters)
        return total

    def scan(self) -> None:
        """Opens wanted ports that are present and not open yet (runs every rescan)."""
        open_devices = {device_key(path) for path in self._open}
        for path in self._wanted():
            if path in self._open or device_key(path) in open_devices:
                continue
            if self._try_open(path):
                open_devices.add(device_key(path))

    # --- internals --------------------------------------------------------------------------

    def _wanted(self) -> list[str]:
        wanted = [p for p in self.configured if os.path.exists(p)]
        if self.autodetect:
            wanted += [p for p in find_ports(self.patterns, self.exclude) if p not in wanted]
        return wanted

    def _try_open(self, path: str) -> bool:
        counters = self._counters.setdefault(path, PortCounters())
        link: NodeLink | None = None

        def on_data(data: bytes) -> None:
            link.data_received(data)  # type: ignore[union-attr]

        def on_lost(exc: Exception | None) -> None:
            self._port_lost(path, exc)

        def on_drain() -> None:
            link.write_drained()  # type: ignore[union-attr]

        port = SerialPort(
            path,
            self.baudrate,
            on_data=on_data,
            on_lost=on_lost,
            on_drain=on_drain,
            serial_factory=self._serial_factory,
        )
        link = NodeLink(
            path,
            port,
            lambda: self.broker.protocol_factory(listener=self.listener),
            counters,
            max_packet=self.max_packet,
            firmware=self.firmware,
        )
        try:
            port.open()
        except (OSError, serial.SerialException, ValueError) as exc:
            message = str(exc)
            if self._open_errors.get(path) != message:
                self._open_errors[path] = message
                log.warning("serial: cannot open %s: %s (will retry)", path, message)
            return False
        self._open_errors.pop(path, None)
        counters.port_opens += 1
        self._open[path] = (port, link)
        log.info("serial: listening for a node on %s at %d baud", path, self.baudrate)
        return True

    def _port_lost(self, path: str, exc: Exception | None) -> None:
        entry = self._open.pop(path, None)
        if entry is None:
            return
        _, link = entry
        link.counters.port_losses += 1
        log.warning("serial: %s lost (%s); waiting for it to come back", path, exc)
        link.port_lost(exc)

    async def _rescan_forever(self) -> None:
        while self._running:
            await asyncio.sleep(self.rescan_interval)
            try:
                self.scan()
            except Exception:  # a scan bug must not end hot-plug for the gateway's life
                log.exception("serial: rescanning ports failed")
