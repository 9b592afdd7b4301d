"""Serial nodes: ESP8266 nodes on a USB cable, as MQTT connections of the embedded broker.

:mod:`~gateway.serial.framing` is the frame format (the twin of the firmware's gwlink),
:mod:`~gateway.serial.link` the link protocol of one port, :mod:`~gateway.serial.port` the
pyserial I/O, :mod:`~gateway.serial.port_scan` port auto-detection and
:mod:`~gateway.serial.bridge` the :class:`SerialBridge` that ``gateway run`` starts, and
:mod:`~gateway.serial.tcp_relay` the :class:`TcpRelay` for a broker in another process.
"""

from .bridge import SerialBridge
from .counters import PortCounters
from .port_scan import DEFAULT_PATTERNS, find_ports
from .tcp_relay import TcpRelay

__all__ = ["DEFAULT_PATTERNS", "PortCounters", "SerialBridge", "TcpRelay", "find_ports"]
