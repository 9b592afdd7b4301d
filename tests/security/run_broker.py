"""``python tests/security/run_broker.py CONFIG.json``: our broker as the service runs it
(uvloop when installed, logging to stderr), with BrokerConfig settings from a JSON file,
listeners included, which the ``python -m broker`` options cannot express."""

from __future__ import annotations

import asyncio
import json
import sys

from broker import Broker, BrokerConfig
from broker.cli import install_uvloop, run_until_signalled, setup_logging


def main(path: str) -> None:
    with open(path) as f:
        config = BrokerConfig(**json.load(f))
    setup_logging("info")
    install_uvloop(config.uvloop)
    asyncio.run(run_until_signalled(Broker(config)))


if __name__ == "__main__":
    main(sys.argv[1])
