"""Runs amqtt's broker with warnings-only logging; executed by bench/.venv-amqtt's python.

amqtt's own `amqtt` command fixes its log level at INFO, which writes lines for every
connection; the other brokers in the benchmark log warnings only, so this launcher gives
amqtt the same footing. It imports nothing from this project (it runs in amqtt's venv).

usage: python amqtt_launch.py CONFIG.yaml
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from amqtt.broker import Broker
from amqtt.utils import read_yaml_config


async def serve(config_path: str) -> None:
    """Start amqtt with the YAML config and run until SIGTERM or SIGINT."""
    broker = Broker(read_yaml_config(config_path))
    await broker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await broker.shutdown()


def main() -> None:
    """Entry point: one argument, the config file."""
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(serve(sys.argv[1]))


if __name__ == "__main__":
    main()
