"""Counters behind $SYS/broker/..., kept as plain attributes so counting costs nothing."""

from __future__ import annotations


class Stats:
    """Broker-wide counters."""

    def __init__(self) -> None:
        self.started_at = 0.0
        self.clients_connected = 0
        self.clients_maximum = 0
        self.connections_total = 0
        self.connections_refused = 0
        self.messages_received = 0
        self.messages_sent = 0
        self.bytes_received = 0
        self.bytes_sent = 0
        self.publish_dropped = 0
        self.publish_denied = 0
        #: QoS 1/2 messages refused (0x97) because a subscriber's queue was full or the
        #: store could not commit.
        self.publish_refused = 0
        self.subscribe_denied = 0
        self.protocol_errors = 0
        #: Connected clients per listener name ("default", "tls:8883", "serial", ...).
        self.per_listener: dict[str, int] = {}

    def client_disconnected(self, listener: str) -> None:
        self.clients_connected -= 1
        self.per_listener[listener] -= 1

    def client_connected(self, listener: str) -> None:
        self.clients_connected += 1
        self.per_listener[listener] = self.per_listener.get(listener, 0) + 1
        self.connections_total += 1
        if self.clients_connected > self.clients_maximum:
            self.clients_maximum = self.clients_connected
