"""Client addresses as the transports report them ("host:port", "[v6]:port", "serial:...")."""

from __future__ import annotations

import ipaddress


def peer_host(peer: str) -> str:
    """The host part of a peer string; a peer without a numeric port is kept whole."""
    if peer.startswith("["):
        return peer[1:].split("]", 1)[0]
    host, sep, port = peer.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host
    return peer


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` is this machine: localhost, 127.0.0.0/8, ::1, or IPv4-mapped
    loopback (what a dual-stack socket reports for 127.0.0.1)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)
