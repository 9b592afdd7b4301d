"""The gateway: config, hardware drivers, filters, topic layout, availability, Home
Assistant discovery and the ``gateway`` command line.

Drivers produce plain values; the runtime turns them into retained MQTT messages through a
small bus interface (:mod:`gateway.bus`), either the embedded broker in-process or an
external broker via paho-mqtt.
"""

__version__ = "0.1.0"
