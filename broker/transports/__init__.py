"""Byte-stream transports under the broker's connection protocol.

* :mod:`broker.transports.tls`: server-side TLS contexts;
* :mod:`broker.transports.ws_upgrade`: a listener's WebSocket upgrade rules (sans-IO);
* :mod:`broker.transports.websocket`: the asyncio Protocol joining wsproto to the broker.
"""
