"""ESP8266 nodes as the gateway knows them: their announcements become Home Assistant
devices, their outputs' command topics are kept free of retained commands, and a node is
removed only when someone asks (``gateway node forget NAME``), not when it goes offline.

The known nodes are kept in the data directory (nodes.json), so their discovery is
published again at start, before the nodes reconnect to a broker that lost it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path

from gateway.bus.base import Bus, InboundMessage, Subscription
from gateway.config.model import GatewaySettings
from gateway.discovery import node_discovery_messages
from gateway.node_announcement import (
    ANNOUNCE_SUFFIX,
    BadAnnouncement,
    NodeAnnouncement,
    parse_announcement,
)

log = logging.getLogger(__name__)

RECORD_FILE = "nodes.json"


def load_nodes(data_dir: Path, prefix: str) -> dict[str, NodeAnnouncement]:
    """node id -> announcement, from the record (empty when missing or unreadable)."""
    path = data_dir / RECORD_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return {}
    nodes: dict[str, NodeAnnouncement] = {}
    for item in data.get("nodes", []) if isinstance(data, dict) else []:
        if not isinstance(item, dict):
            continue
        try:
            node = parse_announcement(
                prefix, f"{prefix}/{item.get('room')}/{item.get('node')}/{ANNOUNCE_SUFFIX}",
                json.dumps(item).encode())
        except BadAnnouncement as exc:
            log.warning("%s: skipping a node: %s", path, exc)
            continue
        nodes[node.node_id] = node
    return nodes


def save_nodes(data_dir: Path, nodes: dict[str, NodeAnnouncement]) -> None:
    """Replace the record atomically."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / RECORD_FILE
    tmp = path.with_suffix(".tmp")
    items = [n.to_json() for _, n in sorted(nodes.items())]
    tmp.write_text(json.dumps({"nodes": items}, indent=1), encoding="utf-8")
    os.replace(tmp, path)


class NodeRegistry:
    """Listens for node announcements on the bus and keeps their discovery published."""

    def __init__(self, bus: Bus, gateway: GatewaySettings, data_dir: Path) -> None:
        self.bus = bus
        self.gateway = gateway
        self.prefix = gateway.topic_prefix
        self.data_dir = data_dir
        self.nodes = load_nodes(data_dir, self.prefix)
        self._announced: dict[str, dict[str, str]] = {}   # node id -> discovery messages
        self._subscriptions: list[Subscription] = []
        self._command_watch: dict[str, Subscription] = {}

    def start(self) -> None:
        """Publish the recorded nodes' discovery and listen for announcements."""
        for node in self.nodes.values():
            self._clear_other_forms(node)
            self._announce(node)
        self._subscriptions.append(self.bus.subscribe(
            f"{self.prefix}/+/+/{ANNOUNCE_SUFFIX}", self._on_announcement))

    def _clear_other_forms(self, node: NodeAnnouncement) -> None:
        """Remove what an earlier run announced for ``node`` in another discovery format,
        or at all when discovery is now off."""
        current = node_discovery_messages(self.gateway, node, self.prefix)
        for form in ("entity", "device"):
            other = dataclasses.replace(self.gateway, discovery=True, discovery_format=form)
            for topic in node_discovery_messages(other, node, self.prefix):
                if topic not in current:
                    self.bus.publish(topic, b"", retain=True)

    def republish(self) -> None:
        """Discovery again (the broker or Home Assistant may have lost it)."""
        for node in self.nodes.values():
            for topic, payload in self._announced.get(node.node_id, {}).items():
                self.bus.publish(topic, payload, retain=True)

    def _on_announcement(self, message: InboundMessage) -> None:
        levels = message.topic.split("/")
        if not message.payload:
            # The announcement was withdrawn: `gateway node forget`.
            node = self.nodes.get(levels[2]) if len(levels) == 4 else None
            if node is not None and node.room == levels[1]:
                self._forget(node)
            return
        try:
            node = parse_announcement(self.prefix, message.topic, message.payload)
        except BadAnnouncement as exc:
            log.warning("ignored the announcement on %s: %s", message.topic, exc)
            return
        old = self.nodes.get(node.node_id)
        if old == node and node.node_id in self._announced:
            return
        if old is not None and old.room != node.room:
            log.info("node %s moved from %s to %s", node.node_id, old.room, node.room)
        log.info("node %s in %s: firmware %s over %s, %d input(s), %d output(s)",
                 node.node_id, node.room, node.firmware, node.transport, len(node.inputs),
                 len(node.outputs))
        self.nodes[node.node_id] = node
        self._announce(node)
        self._save()

    def _announce(self, node: NodeAnnouncement) -> None:
        messages = node_discovery_messages(self.gateway, node, self.prefix)
        for topic in set(self._announced.get(node.node_id, {})) - set(messages):
            self.bus.publish(topic, b"", retain=True)     # an entity the node no longer has
        for topic, payload in messages.items():
            self.bus.publish(topic, payload, retain=True)
        self._announced[node.node_id] = messages
        self._watch_commands(node)

    def _watch_commands(self, node: NodeAnnouncement) -> None:
        # PubSubClient does not tell the sketch whether a message was retained, so the
        # gateway keeps retained commands off the node's command topics: a retained ON
        # would otherwise switch the relay again at every reconnect.
        for name, _ in node.outputs:
            topic = f"{self.prefix}/{node.room}/{name}/set"
            if topic not in self._command_watch:
                self._command_watch[topic] = self.bus.subscribe(topic, self._on_command)

    def _on_command(self, message: InboundMessage) -> None:
        if message.retain and message.payload:
            log.warning("cleared a retained command on %s (commands must not be retained)",
                        message.topic)
            self.bus.publish(message.topic, b"", retain=True)

    def _forget(self, node: NodeAnnouncement) -> None:
        log.info("forgetting node %s in %s", node.node_id, node.room)
        for topic in self._announced.pop(node.node_id, {}):
            self.bus.publish(topic, b"", retain=True)
        for topic in [*node.value_topics(self.prefix),
                      f"{self.prefix}/{node.room}/{node.node_id}/status"]:
            self.bus.publish(topic, b"", retain=True)
        for name, _ in node.outputs:
            watch = self._command_watch.pop(f"{self.prefix}/{node.room}/{name}/set", None)
            if watch is not None:
                watch.cancel()
        del self.nodes[node.node_id]
        self._save()

    def _save(self) -> None:
        try:
            save_nodes(self.data_dir, self.nodes)
        except OSError as exc:
            log.warning("cannot record the nodes in %s: %s", self.data_dir, exc)

    def close(self) -> None:
        for subscription in [*self._subscriptions, *self._command_watch.values()]:
            subscription.cancel()
        self._subscriptions.clear()
        self._command_watch.clear()
