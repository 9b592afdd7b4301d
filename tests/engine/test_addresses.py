"""Peer strings as the shell writes them, and loopback as policy and rate limit see it."""

from __future__ import annotations

import pytest

from broker.engine.addresses import is_loopback, peer_host
from broker.server.mqtt_protocol import peer_name


class _Transport:
    def __init__(self, peer: object) -> None:
        self.peer = peer

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self.peer if name == "peername" else default


@pytest.mark.parametrize(
    "peer, text, host, loopback",
    [
        (("127.0.0.1", 9), "127.0.0.1:9", "127.0.0.1", True),
        (("::1", 5555, 0, 0), "[::1]:5555", "::1", True),
        (("::ffff:127.0.0.1", 4, 0, 0), "[::ffff:127.0.0.1]:4", "::ffff:127.0.0.1", True),
        (("fe80::1%eth0", 7, 0, 2), "[fe80::1%eth0]:7", "fe80::1%eth0", False),
        (("192.0.2.5", 1), "192.0.2.5:1", "192.0.2.5", False),
        ("serial:/dev/ttyUSB0", "serial:/dev/ttyUSB0", "serial:/dev/ttyUSB0", False),
    ],
)
def test_peer_names_round_trip_to_hosts(peer: object, text: str, host: str, loopback: bool) -> None:
    assert peer_name(_Transport(peer)) == text
    assert peer_host(text) == host
    assert is_loopback(host) is loopback
