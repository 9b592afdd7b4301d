"""What an ESP8266 node says about itself when it connects, and what that means for Home
Assistant.

The node (firmware/node/node.ino) publishes one compact, retained JSON message on
``<prefix>/<room>/<node>/announce``, well under PubSubClient's 512-byte buffer::

    {"fw":"0.2.0","tr":"wifi","dht":1,"in":{"door":"c","button":"b"},"out":{"relay":"r"}}

``fw`` firmware version, ``tr`` transport (wifi | serial), ``dht`` 1 when a DHT22 is wired
(home/<room>/temperature and humidity), ``in`` binary inputs by kind (c contact, b button,
m motion), ``out`` outputs by kind (r relay, l LED), each on home/<room>/<name>.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from gateway.names import normalize

ANNOUNCE_SUFFIX = "announce"
MAX_ENTRIES = 8          # the firmware's limit on inputs and on outputs

#: input kind letter -> Home Assistant binary_sensor device class (None: plain on/off)
INPUT_KINDS: dict[str, str | None] = {"c": "opening", "b": None, "m": "motion"}
#: output kind letter -> Home Assistant component
OUTPUT_KINDS: dict[str, str] = {"r": "switch", "l": "light"}


@dataclass(frozen=True)
class NodeAnnouncement:
    """One node and what is wired to it."""

    room: str
    node_id: str
    firmware: str
    transport: str
    climate: bool
    inputs: tuple[tuple[str, str], ...]     # (name, kind letter)
    outputs: tuple[tuple[str, str], ...]

    def to_json(self) -> dict[str, object]:
        """The announcement as the node sent it (for the gateway's record)."""
        return {"room": self.room, "node": self.node_id, "fw": self.firmware,
                "tr": self.transport, "dht": int(self.climate), "in": dict(self.inputs),
                "out": dict(self.outputs)}

    def value_topics(self, prefix: str) -> list[str]:
        """Every value topic of the node under ``prefix`` (states, not commands)."""
        names = [n for n, _ in self.inputs] + [n for n, _ in self.outputs]
        if self.climate:
            names += ["temperature", "humidity"]
        return [f"{prefix}/{self.room}/{name}" for name in names]


class BadAnnouncement(ValueError):
    """An announcement the gateway cannot use; the message says why."""


def announce_topic(prefix: str, room: str, node_id: str) -> str:
    """Where ``node_id`` in ``room`` announces itself."""
    return f"{prefix}/{room}/{node_id}/{ANNOUNCE_SUFFIX}"


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 32 or normalize(value) != value:
        raise BadAnnouncement(f"{what} {value!r} is not a name (a-z, 0-9, _; at most 32)")
    return value


def _entries(raw: object, kinds: dict, what: str) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict) or len(raw) > MAX_ENTRIES:
        raise BadAnnouncement(f"{what}: expected an object of at most {MAX_ENTRIES} names")
    entries = []
    for name, kind in raw.items():
        if kind not in kinds:
            raise BadAnnouncement(f"{what} {name!r}: unknown kind {kind!r}")
        entries.append((_name(name, what), kind))
    return tuple(entries)


def parse_announcement(prefix: str, topic: str, payload: bytes) -> NodeAnnouncement:
    """The announcement on ``topic``; raises :class:`BadAnnouncement` for anything else."""
    levels = topic.split("/")
    if len(levels) != 4 or levels[0] != prefix or levels[3] != ANNOUNCE_SUFFIX:
        raise BadAnnouncement(f"{topic} is not {prefix}/<room>/<node>/{ANNOUNCE_SUFFIX}")
    room, node_id = _name(levels[1], "room"), _name(levels[2], "node")
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadAnnouncement(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadAnnouncement("not a JSON object")
    firmware = data.get("fw")
    transport = data.get("tr")
    if not isinstance(firmware, str) or not 0 < len(firmware) <= 32:
        raise BadAnnouncement("fw: expected the firmware version")
    if transport not in ("wifi", "serial"):
        raise BadAnnouncement("tr: expected wifi or serial")
    inputs = _entries(data.get("in"), INPUT_KINDS, "input")
    outputs = _entries(data.get("out"), OUTPUT_KINDS, "output")
    names = [n for n, _ in inputs + outputs] + (["temperature", "humidity"] if data.get("dht")
                                                else [])
    if len(set(names)) != len(names):
        raise BadAnnouncement("two inputs or outputs share a name")
    return NodeAnnouncement(room=room, node_id=node_id, firmware=firmware, transport=transport,
                            climate=bool(data.get("dht")), inputs=inputs, outputs=outputs)
