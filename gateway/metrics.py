"""Prometheus metrics of the gateway's own parts: polled sensors and serial ports.

Added to the embedded broker's registry (broker.metrics.registry_of), so the dashboard's
``/metrics`` serves them with the broker's. Read at scrape time, like the broker's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.serial.counters import PortCounters

if TYPE_CHECKING:
    from gateway.runtime.app import Gateway
    from gateway.serial import SerialBridge

#: PortCounters fields exported as gateway_serial_<field>_total (the rest stay in logs).
SERIAL_COUNTERS = {
    "frames_in": "Good frames received from the node",
    "frames_out": "Frames sent to the node",
    "bytes_in": "Bytes read from the port",
    "bytes_out": "Bytes written to the port",
    "bad_crc": "Frames with a wrong CRC (noise, a half frame, a wrong baud rate)",
    "bad_cobs": "Frames with broken COBS encoding",
    "too_long": "Segments longer than any frame (a flood or garbage)",
    "too_short": "Frames too short to hold a header",
    "stalled": "Frames that stopped mid-way",
    "unknown_frames": "Frames with a good CRC but an unknown type or version",
    "connections": "MQTT connections opened over the port",
    "node_resets": "Node reboots seen (OPEN while a connection was open)",
    "closed_on_error": "Connections a bad frame ended",
    "dropped_oversize": "Packets for the node larger than its receive buffer, dropped",
    "port_opens": "Times the port was opened",
    "port_losses": "Times the port was unplugged or failed while open",
}
assert set(SERIAL_COUNTERS) <= {f.name for f in fields(PortCounters)}


class GatewayCollector(Collector):
    """Reads and failures per polled sensor; counters per serial port."""

    def __init__(self, gateway: Gateway, serial: SerialBridge | None = None) -> None:
        self.gateway = gateway
        self.serial = serial

    def collect(self) -> Iterator[Metric]:
        reads = CounterMetricFamily("gateway_sensor_reads", "Sensor read attempts",
                                    labels=["sensor"])
        failures = CounterMetricFamily("gateway_sensor_read_failures",
                                       "Read attempts that failed or gave an implausible value",
                                       labels=["sensor"])
        failing = GaugeMetricFamily("gateway_sensor_failed_intervals",
                                    "Poll intervals in a row without a good reading",
                                    labels=["sensor"])
        for runner in self.gateway.polled:
            reads.add_metric([runner.name], runner.reads)
            failures.add_metric([runner.name], runner.read_failures)
            failing.add_metric([runner.name], runner.failures)
        yield from (reads, failures, failing)
        if self.serial is not None:
            yield from self._serial(self.serial.counters())

    @staticmethod
    def _serial(ports: dict[str, PortCounters]) -> Iterator[Metric]:
        for name, doc in SERIAL_COUNTERS.items():
            family = CounterMetricFamily(f"gateway_serial_{name}", doc, labels=["port"])
            for port, counters in sorted(ports.items()):
                family.add_metric([port], getattr(counters, name))
            yield family
