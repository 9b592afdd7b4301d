"""The LAN rig itself: a server on the host side sees the stranger at a non-loopback address."""

from __future__ import annotations

import socket

from support.lan import Lan


def test_peer_reaches_host_from_a_non_loopback_address(lan: Lan) -> None:
    server = socket.create_server((lan.host_ip, 0))
    port = server.getsockname()[1]
    server.settimeout(10)
    client = lan.call(socket.create_connection, (lan.host_ip, port), 10)
    try:
        conn, (addr, _) = server.accept()
        conn.close()
    finally:
        client.close()
        server.close()
    assert addr == lan.peer_ip
    assert not addr.startswith("127.")


def test_namespace_cannot_reach_host_loopback(lan: Lan) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    try:
        probe = lan.run(["python3", "-c",
                         f"import socket; socket.create_connection(('127.0.0.1', {port}), 2)"],
                        capture_output=True)
        assert probe.returncode != 0
    finally:
        server.close()
