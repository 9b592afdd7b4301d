"""``python -m gateway.serial``: the serial bridge on its own, relaying nodes to a broker.

    python -m gateway.serial --broker 127.0.0.1:1883            # auto-detect ports
    python -m gateway.serial --broker gw.local:1883 --port /dev/ttyUSB0 --no-autodetect

Nodes updating over the cable read their image from --firmware-dir (default: the
gateway's, <data dir>/firmware) and the images shipped with the gateway.

Runs until SIGINT/SIGTERM; logs the port counters every --stats-interval seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from .bridge import SerialBridge
from .port_scan import DEFAULT_PATTERNS
from .tcp_relay import TcpRelay

log = logging.getLogger("gateway.serial")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.serial",
        description="Bridge ESP8266 nodes on serial ports to an MQTT broker over TCP.",
    )
    parser.add_argument("--broker", default="127.0.0.1:1883", metavar="HOST:PORT",
                        help="the MQTT broker to relay to (default %(default)s)")
    parser.add_argument("--port", action="append", default=[], metavar="PATH",
                        help="a serial port to use (repeatable)")
    parser.add_argument("--baud", type=int, default=115200, help="baud rate (default %(default)s)")
    parser.add_argument("--no-autodetect", dest="autodetect", action="store_false",
                        help=f"only use --port, do not scan {' '.join(DEFAULT_PATTERNS)}")
    parser.add_argument("--exclude", action="append", default=[], metavar="PATTERN",
                        help="never open ports matching this glob (repeatable)")
    parser.add_argument("--firmware-dir", type=Path, default=None, metavar="DIR",
                        help="node firmware images (node-<version>.bin) for nodes updating "
                             "over the cable (default: the gateway's data directory's)")
    parser.add_argument("--stats-interval", type=float, default=60.0, metavar="SECONDS",
                        help="log counters this often; 0: never (default %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    host, sep, port = args.broker.rpartition(":")
    if not sep or not port.isdigit():
        parser.error("--broker must be HOST:PORT")
    args.broker_host, args.broker_port = host.strip("[]"), int(port)
    return args


async def serve(args: argparse.Namespace, stop: asyncio.Event) -> None:
    from gateway.node_firmware import FirmwareStore
    from gateway.node_update_cli import default_data_dir

    relay = TcpRelay(args.broker_host, args.broker_port)
    store = FirmwareStore(args.firmware_dir or default_data_dir() / "firmware")
    bridge = SerialBridge(relay, ports=args.port, baudrate=args.baud,
                          autodetect=args.autodetect, exclude=args.exclude, firmware=store)
    await bridge.start()
    try:
        while not stop.is_set():
            timeout = args.stats_interval if args.stats_interval > 0 else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout)
            if args.stats_interval > 0:
                log.info("serial: ports %s; totals %s", bridge.open_ports, bridge.totals().as_dict())
    finally:
        await bridge.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(args, stop)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
