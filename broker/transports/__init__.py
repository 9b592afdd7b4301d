"""Transports that carry MQTT bytes: TLS contexts and MQTT over WebSockets.

* :mod:`broker.transports.tls`: SSLContext from listener options, client certificate CN;
* :mod:`broker.transports.ws_handshake`: the HTTP/1.1 upgrade (sans-IO);
* :mod:`broker.transports.ws_frames`: RFC 6455 framing (sans-IO);
* :mod:`broker.transports.websocket`: the asyncio Protocol joining them to the broker.
"""
