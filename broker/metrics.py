"""Prometheus metrics of a running broker, in the text exposition format.

prometheus-client (the Prometheus project's own Python library) writes the format; the
figures are read from the broker at scrape time by :class:`BrokerCollector`, so counting
costs nothing between scrapes and there is no second copy of any counter. Each broker has
one registry (:func:`registry_of`): the gateway adds its own collectors (sensors, serial
ports) to it, and the dashboard's ``/metrics`` and ``python -m broker --metrics-port`` serve
it. Scrapes run on the event loop, so they read the broker's state between two events.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

if TYPE_CHECKING:
    from aiohttp import web

    from .server.app import Broker
    from .store.commit import CommitLatency

log = logging.getLogger("broker.metrics")

#: Bridge states as the bridge names them (broker/bridge/link.py).
BRIDGE_STATES = ("connecting", "connected", "disconnected", "stopped")

_registries: weakref.WeakKeyDictionary[Broker, CollectorRegistry] = weakref.WeakKeyDictionary()


def registry_of(broker: Broker) -> CollectorRegistry:
    """The registry of ``broker``'s metrics (made, with its collector, on first use)."""
    registry = _registries.get(broker)
    if registry is None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(BrokerCollector(broker))
        _registries[broker] = registry
    return registry


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """(body, Content-Type) of a scrape."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


class BrokerCollector(Collector):
    """Clients, traffic, flow control, queues, retained messages, store and bridges."""

    def __init__(self, broker: Broker) -> None:
        # Weak: the registry is kept per broker in a WeakKeyDictionary, whose values must
        # not keep their key alive.
        self._broker = weakref.ref(broker)

    def collect(self) -> Iterator[Metric]:
        broker = self._broker()
        if broker is None:
            return
        engine = broker.engine
        stats = engine.stats
        clients = GaugeMetricFamily("broker_clients_connected",
                                    "Connected clients per listener", labels=["listener"])
        per_listener = dict.fromkeys(broker.ports, 0)
        per_listener.update(stats.per_listener)
        for listener, count in sorted(per_listener.items()):
            clients.add_metric([listener], count)
        yield clients
        yield _counter("broker_connections", "Client connections accepted",
                       stats.connections_total)
        yield _counter("broker_connections_refused", "CONNECTs refused (auth, limits)",
                       stats.connections_refused)
        yield _counter("broker_messages_received", "PUBLISH packets received",
                       stats.messages_received)
        yield _counter("broker_messages_sent", "PUBLISH packets sent", stats.messages_sent)
        yield _counter("broker_received_bytes", "Bytes received from clients",
                       stats.bytes_received)
        yield _counter("broker_sent_bytes", "Bytes sent to clients", stats.bytes_sent)
        yield _counter("broker_messages_dropped",
                       "QoS 0 messages dropped because a subscriber's queue was full",
                       stats.publish_dropped)
        yield _counter("broker_messages_refused",
                       "QoS 1/2 messages refused with 0x97 because a queue was full",
                       stats.publish_refused)
        yield _counter("broker_messages_denied", "PUBLISHes the ACL denied",
                       stats.publish_denied)
        yield _gauge("broker_publishers_held",
                     "MQTT 3.x publishers held back now until queues drain", len(engine.held))
        yield from self._queues(broker)
        yield _gauge("broker_retained_messages", "Retained messages", engine.retained.count)
        yield _gauge("broker_subscriptions", "Subscriptions", engine.subscriptions.count)
        yield from self._store(broker)
        yield from self._bridges(broker)

    @staticmethod
    def _queues(broker: Broker) -> Iterator[Metric]:
        total = deepest = total_bytes = largest = 0
        for session in broker.engine.sessions.values():
            depth = len(session.queue)
            total += depth
            deepest = max(deepest, depth)
            total_bytes += session.queued_bytes
            largest = max(largest, session.queued_bytes)
        yield _gauge("broker_queued_messages", "Messages queued for all sessions", total)
        yield _gauge("broker_queued_messages_max", "Messages queued for the fullest session",
                     deepest)
        yield _gauge("broker_queued_bytes", "Payload bytes queued for all sessions", total_bytes)
        yield _gauge("broker_queued_bytes_max", "Payload bytes queued for the fullest session",
                     largest)

    @staticmethod
    def _store(broker: Broker) -> Iterator[Metric]:
        persistence = broker.persistence
        if persistence is None:
            return
        commit = persistence.commit
        yield _counter("broker_store_commits", "Store transactions committed", commit.commits)
        yield _histogram("broker_store_commit_seconds", "Store commit latency",
                         commit.commit_seconds)
        written = persistence.bytes_written()
        if written is not None:  # Linux's per-thread I/O accounting; absent elsewhere
            yield _counter("broker_store_written_bytes",
                           "Bytes the store wrote to its files (what wears an SD card)",
                           written)

    @staticmethod
    def _bridges(broker: Broker) -> Iterator[Metric]:
        bridges = broker.bridges
        if not bridges:
            return
        up = GaugeMetricFamily("broker_bridge_up", "1 while the bridge is connected upstream",
                               labels=["bridge"])
        state = GaugeMetricFamily("broker_bridge_state", "1 for the state the bridge is in",
                                  labels=["bridge", "state"])
        backlog = GaugeMetricFamily("broker_bridge_backlog_messages",
                                    "Messages waiting to be forwarded upstream",
                                    labels=["bridge"])
        backlog_bytes = GaugeMetricFamily("broker_bridge_backlog_bytes",
                                          "Bytes waiting to be forwarded upstream",
                                          labels=["bridge"])
        dropped = CounterMetricFamily("broker_bridge_dropped",
                                      "Backlog messages dropped (backlog full)",
                                      labels=["bridge"])
        version = GaugeMetricFamily("broker_bridge_mqtt_version",
                                    "MQTT version of the upstream connection (4: 3.1.1, 5: 5.0)",
                                    labels=["bridge"])
        for bridge in bridges:
            name = bridge.config.name
            up.add_metric([name], 1 if bridge.state == "connected" else 0)
            for known in BRIDGE_STATES:
                state.add_metric([name, known], 1 if bridge.state == known else 0)
            backlog.add_metric([name], len(bridge.backlog))
            backlog_bytes.add_metric([name], bridge.backlog.bytes)
            dropped.add_metric([name], bridge.backlog.dropped)
            client = bridge.client
            if client is not None:
                version.add_metric([name], client.version)
        yield from (up, state, backlog, backlog_bytes, dropped, version)


async def start_metrics_server(broker: Broker, host: str, port: int) -> web.AppRunner:
    """Serve ``GET /metrics`` on host:port (``python -m broker --metrics-port``)."""
    from aiohttp import web

    registry = registry_of(broker)

    async def metrics(_request: web.Request) -> web.Response:
        body, content_type = exposition(registry)
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_address=True).start()
    bound = runner.addresses[0][1] if runner.addresses else port
    log.info("metrics on http://%s:%d/metrics", host, bound)
    return runner


def _histogram(name: str, documentation: str, latency: CommitLatency) -> Metric:
    """The store's own bucket counts as a Prometheus histogram (cumulative buckets)."""
    buckets = []
    total = 0
    for bound, count in zip((*map(str, latency.bounds), "+Inf"), latency.counts, strict=True):
        total += count
        buckets.append((bound, total))
    return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=latency.sum)
