"""The gateway's update service for ESP8266 nodes (docs/contracts.md "Node firmware updates").

* ``<p>/<room>/<node>/firmware/install`` (from Home Assistant, the dashboard or ``gateway node
  update``) makes the gateway offer its newest image to that node: a retained
  ``.../firmware/offer`` with version, MD5, size, the URL of the gateway's image server and a
  ``try`` number.
* The node reports on ``.../firmware/progress``; the offer is withdrawn (empty retained
  payload) once the node is ``idle`` with the offered version. An ``install`` after a failure
  offers again with ``try`` + 1, which the node takes as a new attempt.
* ``.../firmware/state`` is Home Assistant's MQTT ``update`` state, recomputed whenever the
  node's announcement or progress or the newest stored image changes.
* Only the gateway publishes offers. On its embedded broker the broker itself refuses
  everyone else (gateway/runtime/gateway_topics.py); on an external broker, whose ACL may
  let others write there, ``guard_offers`` replaces an offer that is not the gateway's with
  its own, or withdraws it. Either way a retained offer found at start that names no stored
  image at the gateway's URL (left from before a restart) is withdrawn.

A download that stops reporting progress for ``stall_timeout`` seconds counts as failed, so
Home Assistant does not show an update in progress forever when a node dies mid-download.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from gateway.bus.base import Bus, InboundMessage, Subscription
from gateway.names import normalize
from gateway.node_announcement import ANNOUNCE_SUFFIX
from gateway.node_firmware import BadImage, FirmwareImage, FirmwareStore, image_name, version_key

log = logging.getLogger(__name__)

TITLE = "Sensor node firmware"
INSTALL_PAYLOAD = b"install"
#: A download silent this long (no progress report) has failed.
STALL_TIMEOUT = 300.0
#: How often the store is looked at for a newer image (``gateway node firmware add``).
RESCAN_INTERVAL = 30.0
#: Progress states that mean "installing now".
ACTIVE_STATES = ("download", "verify", "reboot")


class Cancellable(Protocol):
    def cancel(self) -> None: ...


CallLater = Callable[[float, Callable[[], None]], Cancellable]


def firmware_topic(prefix: str, room: str, node: str, leaf: str) -> str:
    """``<prefix>/<room>/<node>/firmware/<leaf>``."""
    return f"{prefix}/{room}/{node}/firmware/{leaf}"


def runs_newer(installed: str | None, version: str | None) -> bool:
    """The node runs a later version than ``version`` (flashed by cable with a newer build
    than the gateway keeps): offering ``version`` would downgrade it. Versions that do not
    parse compare as not newer, so such a node is offered the newest image as before."""
    if installed is None or version is None:
        return False
    try:
        return version_key(installed) > version_key(version)
    except (BadImage, ValueError):
        return False


def offer_payload(image: FirmwareImage, base_url: str, attempt: int) -> bytes:
    """The retained offer of ``image`` (compact JSON, as a node's buffer wants it)."""
    return json.dumps({"v": image.version, "md5": image.md5, "size": image.size,
                       "url": f"{base_url.rstrip('/')}/firmware/{image_name(image.version)}",
                       "try": attempt}, separators=(",", ":")).encode()


@dataclass
class NodeUpdate:
    """What the gateway knows about one node's firmware."""

    room: str
    node: str
    installed: str | None = None
    offer: bytes = b""                     # the retained offer as published; b"" none
    offered_md5: str = ""
    offered_version: str = ""
    attempt: int = 0
    failed: bool = False                   # the last attempt at offered_md5 failed
    in_progress: bool = False
    percentage: int | None = None
    last_error: str = ""
    stall: Cancellable | None = field(default=None, repr=False)
    state: bytes = b""                     # the last state published
    reports: bool = False                  # has reported progress: its firmware can update
    restarting: bool = False               # reported `reboot` into the offered image


class NodeUpdates:
    """The update service on ``bus``; see the module docstring."""

    def __init__(self, bus: Bus, prefix: str, store: FirmwareStore, base_url: str, *,
                 call_later: CallLater | None = None,
                 stall_timeout: float = STALL_TIMEOUT,
                 rescan_interval: float = RESCAN_INTERVAL,
                 guard_offers: bool = True) -> None:
        self.bus = bus
        self.prefix = prefix
        self.store = store
        self.base_url = base_url
        self.stall_timeout = stall_timeout
        self.rescan_interval = rescan_interval
        self.guard_offers = guard_offers
        self._rescan: Cancellable | None = None
        self._call_later = call_later
        self.nodes: dict[tuple[str, str], NodeUpdate] = {}
        self._subscriptions: list[Subscription] = []
        self._latest: str | None = None

    # --- life ---------------------------------------------------------------------------

    def start(self, known: dict[tuple[str, str], str] | None = None) -> None:
        """Listen; ``known`` are (room, node) -> installed version of the recorded nodes,
        whose state is published at once."""
        newest = self.store.newest()
        self._latest = newest.version if newest else None
        for (room, node), version in (known or {}).items():
            entry = self._node(room, node)
            entry.installed = version
            self._publish_state(entry)
        p = self.prefix
        # Offers first: a retained failure report then finds the offer it is about.
        for leaf, handler in (("offer", self._on_offer), ("progress", self._on_progress),
                              ("install", self._on_install)):
            self._subscriptions.append(self.bus.subscribe(f"{p}/+/+/firmware/{leaf}", handler))
        self._subscriptions.append(self.bus.subscribe(f"{p}/+/+/{ANNOUNCE_SUFFIX}",
                                                      self._on_announce))
        self._schedule_rescan()

    def _schedule_rescan(self) -> None:
        call_later = self._call_later or asyncio.get_running_loop().call_later
        self._rescan = call_later(self.rescan_interval, self._rescan_store)

    def _rescan_store(self) -> None:
        self._rescan = None
        try:
            newest = self.store.newest()
        except OSError as exc:        # a failing disk must not end the rescans
            log.warning("cannot read the node firmware images: %s", exc)
            newest = None
        if (newest.version if newest else None) != self._latest:
            self.images_changed()
        self._schedule_rescan()

    def close(self) -> None:
        """Stop listening (offers stay retained: nodes asleep still find them)."""
        for subscription in self._subscriptions:
            subscription.cancel()
        self._subscriptions.clear()
        if self._rescan is not None:
            self._rescan.cancel()
            self._rescan = None
        for entry in self.nodes.values():
            if entry.stall is not None:
                entry.stall.cancel()
                entry.stall = None

    def republish(self) -> None:
        """Offers and states again (the broker may have lost its retained messages)."""
        for entry in self.nodes.values():
            if entry.offer:
                self.bus.publish(self._topic(entry, "offer"), entry.offer, retain=True, qos=1)
            if entry.state:
                self.bus.publish(self._topic(entry, "state"), entry.state, retain=True)

    def images_changed(self) -> None:
        """The store changed (an image added): every node's latest version again."""
        newest = self.store.newest()
        self._latest = newest.version if newest else None
        for entry in self.nodes.values():
            self._publish_state(entry)

    # --- the offer ----------------------------------------------------------------------

    def install(self, room: str, node: str) -> bool:
        """Offer the newest image to ``node`` in ``room``; False when there is nothing to
        offer (no image, or the node runs it already)."""
        entry = self._node(room, node)
        image = self.store.newest()
        self._latest = image.version if image else None
        if image is None:
            log.warning("install asked for node %s in %s: no firmware image stored "
                        "(gateway node firmware add FILE)", node, room)
            self._publish_state(entry)
            return False
        if not entry.reports:
            # Firmware before 0.4.0 has no updater and never reports: offering would leave
            # the update "in progress" for ever.
            log.warning("install asked for node %s in %s, which has never reported update "
                        "progress: its firmware cannot update over the air (flash it once "
                        "by cable)", node, room)
            return False
        if entry.installed == image.version:
            log.info("node %s in %s runs firmware %s already", node, room, image.version)
            self._publish_state(entry)
            return False
        if runs_newer(entry.installed, image.version):
            log.info("node %s in %s runs firmware %s, newer than the newest image (%s): "
                     "nothing to offer", node, room, entry.installed, image.version)
            self._publish_state(entry)
            return False
        if entry.offered_md5 == image.md5 and entry.attempt:
            # The same offer again (it may have been lost), or after a failure a new try,
            # which the node takes as a new attempt.
            attempt = entry.attempt + 1 if entry.failed else entry.attempt
        else:
            attempt = 1
        entry.offer = offer_payload(image, self.base_url, attempt)
        entry.offered_md5, entry.offered_version, entry.attempt = image.md5, image.version, attempt
        entry.failed = False
        entry.in_progress = True
        entry.percentage = None
        entry.last_error = ""
        log.info("offering firmware %s to node %s in %s (try %d)", image.version, node, room,
                 attempt)
        self.bus.publish(self._topic(entry, "offer"), entry.offer, retain=True, qos=1)
        self._publish_state(entry)
        return True

    def _withdraw(self, entry: NodeUpdate) -> None:
        entry.offer = b""
        self._cancel_stall(entry)
        self.bus.publish(self._topic(entry, "offer"), b"", retain=True, qos=1)

    # --- inbound ------------------------------------------------------------------------

    def _levels(self, topic: str, depth: int) -> tuple[str, str] | None:
        levels = topic.split("/")
        if len(levels) != depth or levels[0] != self.prefix:
            return None
        room, node = levels[1], levels[2]
        if not room or not node or normalize(room) != room or normalize(node) != node:
            return None
        return room, node

    def _on_install(self, message: InboundMessage) -> None:
        where = self._levels(message.topic, 5)
        if where is None or message.retain:
            # A retained install would start an update again at every restart.
            if where is not None and message.payload:
                self.bus.publish(message.topic, b"", retain=True)
            return
        if message.payload.strip().lower() != INSTALL_PAYLOAD:
            log.warning("ignored %r on %s (expected %r)", message.payload[:32], message.topic,
                        INSTALL_PAYLOAD.decode())
            return
        self.install(*where)

    def _on_announce(self, message: InboundMessage) -> None:
        where = self._levels(message.topic, 4)
        if where is None:
            return
        if not message.payload:
            self._forget(*where)        # `gateway node forget`
            return
        try:
            version = json.loads(message.payload).get("fw")
        except (ValueError, UnicodeDecodeError, AttributeError):
            return
        if isinstance(version, str) and 0 < len(version) <= 32:
            entry = self._node(*where)
            entry.installed = version
            self._check_done(entry)
            self._publish_state(entry)

    def _on_progress(self, message: InboundMessage) -> None:
        where = self._levels(message.topic, 5)
        if where is None or not message.payload:
            return
        try:
            report = json.loads(message.payload)
        except (ValueError, UnicodeDecodeError):
            log.warning("ignored a progress report that is not JSON on %s", message.topic)
            return
        if not isinstance(report, dict):
            return
        status, version = report.get("st"), report.get("v")
        if not isinstance(status, str) or not isinstance(version, str) or len(version) > 32:
            return
        entry = self._node(*where)
        entry.reports = True
        if status == "idle":
            entry.installed = version
            if entry.offer and entry.restarting and version != entry.offered_version:
                # It installed the image and came back with another version (an image whose
                # name says another version, a boot loader that kept the old one): the
                # retained offer would have it install the same image at every restart.
                error = (f"restarted into firmware {version}, not {entry.offered_version}: "
                         "is the image the version its name says?")
                self._fail(entry, error)
                self._withdraw(entry)
                # Said where the node's own failures are said, so the dashboard and `gateway
                # node update` show why; the node's next connect replaces it with `idle`.
                self.bus.publish(self._topic(entry, "progress"), json.dumps(
                    {"st": "failed", "v": entry.offered_version, "err": error},
                    separators=(",", ":")).encode(), retain=True, qos=1)
            entry.restarting = False
            self._check_done(entry)
        elif status in ACTIVE_STATES and entry.offer and version == entry.offered_version:
            entry.in_progress = True
            pct = report.get("pct")
            if status == "download" and isinstance(pct, int | float) and 0 <= pct <= 100:
                entry.percentage = int(pct)
            elif status != "download":
                entry.percentage = 100
            entry.restarting = status == "reboot"
            self._arm_stall(entry)
        elif status == "failed" and version == entry.offered_version and (
                entry.offer or not entry.failed):     # not the report made just above
            err = report.get("err")
            self._fail(entry, err if isinstance(err, str) else "failed")
        self._publish_state(entry)

    def _on_offer(self, message: InboundMessage) -> None:
        where = self._levels(message.topic, 5)
        if where is None or not message.payload:
            return
        entry = self._node(*where)
        if message.payload == entry.offer:
            return
        if not entry.offer and message.retain and self._adopt(entry, message.payload):
            return
        if not message.retain and not self.guard_offers:
            return      # the broker let it through: the machine itself published it
        # Not ours: put back what the gateway offers (nothing, most of the time).
        log.warning("replaced an offer on %s that the gateway did not make", message.topic)
        self.bus.publish(message.topic, entry.offer, retain=True, qos=1)

    def _adopt(self, entry: NodeUpdate, payload: bytes) -> bool:
        """A retained offer this gateway made before it restarted: keep it when it names a
        stored image at the gateway's own URL."""
        try:
            offer = json.loads(payload)
            image = self.store.by_md5(str(offer["md5"]))
            attempt = int(offer["try"])
        except (ValueError, UnicodeDecodeError, KeyError, TypeError):
            return False
        if image is None or attempt < 1 or payload != offer_payload(image, self.base_url, attempt):
            return False
        entry.offer, entry.offered_md5, entry.offered_version = payload, image.md5, image.version
        entry.attempt, entry.in_progress = attempt, True
        self._check_done(entry)
        self._publish_state(entry)
        return True

    # --- bookkeeping --------------------------------------------------------------------

    def _forget(self, room: str, node: str) -> None:
        entry = self.nodes.pop((room, node), None)
        if entry is None:
            return
        self._cancel_stall(entry)
        for leaf in ("offer", "state", "progress"):
            self.bus.publish(self._topic(entry, leaf), b"", retain=True, qos=1)

    def _check_done(self, entry: NodeUpdate) -> None:
        if entry.offer and entry.installed == entry.offered_version:
            log.info("node %s in %s runs firmware %s now", entry.node, entry.room,
                     entry.installed)
            entry.in_progress = False
            entry.percentage = None
            self._withdraw(entry)

    def _fail(self, entry: NodeUpdate, error: str) -> None:
        log.warning("firmware update of node %s in %s to %s failed: %s", entry.node,
                    entry.room, entry.offered_version, error)
        entry.failed = True
        entry.in_progress = False
        entry.percentage = None
        entry.last_error = error
        self._cancel_stall(entry)

    def _arm_stall(self, entry: NodeUpdate) -> None:
        self._cancel_stall(entry)
        call_later = self._call_later or asyncio.get_running_loop().call_later
        entry.stall = call_later(self.stall_timeout, lambda: self._stalled(entry))

    def _cancel_stall(self, entry: NodeUpdate) -> None:
        if entry.stall is not None:
            entry.stall.cancel()
            entry.stall = None

    def _stalled(self, entry: NodeUpdate) -> None:
        entry.stall = None
        if entry.in_progress:
            self._fail(entry, f"no progress for {self.stall_timeout:g} s")
            self._publish_state(entry)

    def _node(self, room: str, node: str) -> NodeUpdate:
        entry = self.nodes.get((room, node))
        if entry is None:
            entry = self.nodes[(room, node)] = NodeUpdate(room, node)
        return entry

    def _topic(self, entry: NodeUpdate, leaf: str) -> str:
        return firmware_topic(self.prefix, entry.room, entry.node, leaf)

    def state_of(self, entry: NodeUpdate) -> dict[str, object]:
        """Home Assistant's update state of one node."""
        latest = self._latest or entry.installed
        if runs_newer(entry.installed, latest):
            latest = entry.installed    # nothing newer here: up to date, not a downgrade
        return {"installed_version": entry.installed, "latest_version": latest,
                "title": TITLE, "in_progress": entry.in_progress,
                "update_percentage": entry.percentage if entry.in_progress else None}

    def _publish_state(self, entry: NodeUpdate) -> None:
        if entry.installed is None:
            return      # not a node that announced itself (yet): nothing to show
        payload = json.dumps(self.state_of(entry), separators=(",", ":")).encode()
        if payload != entry.state:
            entry.state = payload
            self.bus.publish(self._topic(entry, "state"), payload, retain=True)
