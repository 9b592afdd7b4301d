"""The ESP8266 nodes as the dashboard lists them: each node's firmware (installed and latest
version, an update in progress, the last failure) and whether the signed-in user may start
an update. Built from broker messages only (docs/contracts.md, "Node firmware updates"):

    <p>/<room>/<node>/announce            the node's self-description (``fw``: its version)
    <p>/<room>/<node>/status              online / offline
    <p>/<room>/<node>/firmware/state      the gateway's update state (Home Assistant's JSON)
    <p>/<room>/<node>/firmware/progress   the node's own report (``{"st": "failed", "err": ..}``)

A node is listed while its announcement stands: ``gateway node forget`` withdraws it and
the node leaves the page with it, whatever firmware state is still retained.

Each part is shown only to a user who may read its topic, as over MQTT; the update button
publishes ``install`` on ``.../firmware/install`` for a user who may write that topic.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.names import title
from gateway.node_announcement import (
    ANNOUNCE_SUFFIX,
    BadAnnouncement,
    NodeAnnouncement,
    parse_announcement,
)

#: the topic level under a node that holds its firmware update topics
FIRMWARE = "firmware"
#: what the update button publishes (Home Assistant's ``payload_install``)
PAYLOAD_INSTALL = "install"
#: the node's phases while it installs an image (after them: idle with the new version)
ACTIVE_PHASES = ("download", "verify", "reboot")
#: the failure shown for an update the gateway gave up on while the node was silent
STALLED = "the node stopped reporting progress"

Right = Callable[[str], bool]


def is_firmware_topic(prefix: str, topic: str) -> bool:
    """``<prefix>/<room>/<node>/firmware/<leaf>``: update traffic, not a value to show."""
    levels = topic.split("/")
    return len(levels) == 5 and levels[0] == prefix and levels[3] == FIRMWARE


@dataclass
class _Node:
    room: str
    node: str
    announcement: NodeAnnouncement | None = None
    status: str | None = None
    state: dict[str, Any] | None = None       # firmware/state, as the gateway publishes it
    progress: dict[str, Any] | None = None    # firmware/progress, as the node reports it


class NodeList:
    """The nodes seen on the broker, fed message by message (:meth:`handle`)."""

    def __init__(self, prefix: str = "home", max_nodes: int = 256) -> None:
        self.prefix = prefix
        #: a client publishing endless made-up node topics must not grow memory without end
        self.max_nodes = max_nodes
        self._nodes: dict[str, _Node] = {}     # "<room>/<node>" -> what is known of it

    def handle(self, topic: str, payload: bytes) -> str | None:
        """Take one message; returns the id (``<room>/<node>``) of the node whose display
        changed, or None. Never raises on bad input from the network."""
        levels = topic.split("/")
        if levels[0] != self.prefix or len(levels) not in (4, 5):
            return None
        leaf = levels[3] if len(levels) == 4 else f"{levels[3]}/{levels[4]}"
        if leaf not in (ANNOUNCE_SUFFIX, "status", f"{FIRMWARE}/state", f"{FIRMWARE}/progress"):
            return None
        key = f"{levels[1]}/{levels[2]}"
        node = self._nodes.get(key)
        if node is None:
            if not payload or len(self._nodes) >= self.max_nodes:
                return None
            node = self._nodes[key] = _Node(levels[1], levels[2])
        shown = node.announcement is not None
        if leaf == ANNOUNCE_SUFFIX:
            if not payload:
                del self._nodes[key]            # forgotten: its leftovers go with it
                return key if shown else None
            try:
                node.announcement = parse_announcement(self.prefix, topic, payload)
            except BadAnnouncement:
                return None
        elif leaf == "status":
            node.status = payload.decode("utf-8", errors="replace") or None
        elif leaf.endswith("/state"):
            node.state = _json_object(payload)
        else:
            node.progress = _json_object(payload)
        return key if node.announcement is not None else None

    def topic(self, key: str, leaf: str) -> str:
        """The topic of node ``key``: ``announce``, ``status`` or ``firmware/<leaf>``."""
        return f"{self.prefix}/{key}/{leaf}"

    def install_topic(self, key: str) -> str:
        """Where an update of node ``key`` is asked for."""
        return self.topic(key, f"{FIRMWARE}/install")

    def visible_to(self, key: str, may_read: Right) -> bool:
        """A listed node whose announcement or firmware state the user may read."""
        node = self._nodes.get(key)
        return (node is not None and node.announcement is not None
                and (may_read(self.topic(key, ANNOUNCE_SUFFIX))
                     or may_read(self.topic(key, f"{FIRMWARE}/state"))))

    def node_json(self, key: str, may_read: Right, may_write: Right) -> dict[str, Any] | None:
        """What the page shows of node ``key`` for a user with these rights; None when the
        user may see nothing of it (or it is not listed)."""
        if not self.visible_to(key, may_read):
            return None
        node = self._nodes[key]
        readable = {
            "announce": node.announcement if may_read(self.topic(key, ANNOUNCE_SUFFIX)) else None,
            "status": node.status if may_read(self.topic(key, "status")) else None,
            "state": (node.state or {}) if may_read(self.topic(key, f"{FIRMWARE}/state")) else {},
            "progress": ((node.progress or {})
                         if may_read(self.topic(key, f"{FIRMWARE}/progress")) else {}),
        }
        state, progress = readable["state"], readable["progress"]
        announcement = readable["announce"]
        phase = _text(progress.get("st"))
        installed = (_text(state.get("installed_version"))
                     or (announcement.firmware if announcement else None)
                     or (_text(progress.get("v")) if phase == "idle" else None))
        latest = _text(state.get("latest_version"))
        if isinstance(state.get("in_progress"), bool):
            in_progress = state["in_progress"]
        else:
            in_progress = phase in ACTIVE_PHASES
        percentage = _percent(state.get("update_percentage"))
        if percentage is None and in_progress and phase == "download":
            percentage = _percent(progress.get("pct"))
        # The gateway gave up on a download that went silent (the node lost power or WiFi
        # mid-way): the node's last report still says it is busy with another version.
        stalled = (state.get("in_progress") is False and phase in ACTIVE_PHASES
                   and _text(progress.get("v")) not in (None, installed))
        failed = (phase == "failed" or stalled) and not in_progress
        status = readable["status"]
        return {
            "id": key,
            "room": node.room,
            "node": node.node,
            "name": title(node.node),
            "online": None if status not in ("online", "offline") else status == "online",
            "installed": installed,
            "latest": latest,
            "title": _text(state.get("title")),
            "update_available": bool(installed and latest and installed != latest),
            "in_progress": in_progress,
            "phase": phase if in_progress else "failed" if failed else None,
            "percentage": percentage if in_progress else None,
            "error": (STALLED if stalled else _text(progress.get("err")) or "unknown error")
            if failed else None,
            "failed_version": _text(progress.get("v")) if failed else None,
            "can_update": may_write(self.install_topic(key)),
        }

    def snapshot(self, may_read: Right, may_write: Right) -> list[dict[str, Any]]:
        """Every node the user may see, by room and name."""
        items = [self.node_json(key, may_read, may_write) for key in sorted(self._nodes)]
        return [item for item in items if item is not None]


def _json_object(payload: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _text(value: Any) -> str | None:
    return value[:200] if isinstance(value, str) and value else None


def _percent(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return max(0, min(100, round(value)))
