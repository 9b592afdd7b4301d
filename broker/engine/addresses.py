"""Client addresses as the transports report them ("host:port", "[v6]:port", "serial:...")."""

from __future__ import annotations

import ipaddress


def peer_host(peer: str) -> str:
    """The host part of a peer string."""
    if peer.startswith("["):
        return peer[1:].split("]", 1)[0]
    if peer.count(":") == 1:
        return peer.rsplit(":", 1)[0]
    return peer


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
