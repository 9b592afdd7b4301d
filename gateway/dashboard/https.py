"""HTTPS for the dashboard with the broker's own certificate.

When a broker listener speaks TLS (``tls`` or ``wss``, with ``certfile`` and ``keyfile``),
the dashboard serves HTTPS on its port with the same certificate and key, and marks its
session cookie Secure: passwords and cookies then never cross the LAN in clear text, and
phones trust one certificate for MQTT and the page alike.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from broker import Broker


def listener_context(broker: Broker) -> ssl.SSLContext | None:
    """A server context with the first TLS listener's certificate; None when none has one."""
    from broker.server.listeners import ListenerConfig
    from broker.transports.tls import TlsOptions, server_context

    for value in broker.config.listeners:
        lc = ListenerConfig.from_value(value)
        if lc.kind in ("tls", "wss") and lc.certfile and lc.keyfile:
            # Browsers present no client certificate: the listener's CA settings stay its own.
            return server_context(TlsOptions(certfile=lc.certfile, keyfile=lc.keyfile))
    return None
