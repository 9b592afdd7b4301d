"""Column values for the store's rows: messages, wills, subscription options, times.

The engine keeps expiry times on its monotonic clock; on disk they are wall-clock seconds
so they stay meaningful across a restart (or a reboot). A Pi has no real-time clock, so the
wall clock may have gone back between the write and the read (to the last saved time at
boot, or by an NTP correction): what is left is then capped by an interval stored with the
time (a message's Message Expiry Interval as it was when written, a session's expiry
interval, a will's delay), so a restart never gives anything more time than it had.
MQTT 5.0 properties are stored in their wire encoding, which the protocol codec already
knows how to read back.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from ..engine.message import Message
from ..engine.policy import ClientInfo
from ..protocol.packets import SubscriptionOptions, Will
from ..protocol.properties import PUBLISH, WILL, encode_properties, read_properties
from ..protocol.wire import Reader

EMPTY_PROPS = b"\x00"


class Clocks:
    """Converts between the engine's clock and wall-clock time."""

    def __init__(self, engine_clock: Callable[[], float]) -> None:
        self._clock = engine_clock
        #: Set by from_wall when it capped a time (the wall clock went back): the loader
        #: then writes the row again, so the next restart does not give the time again.
        self.clamped = False

    def to_wall(self, at: float | None) -> float | None:
        """An engine-clock instant as wall-clock seconds (None stays None)."""
        if at is None:
            return None
        return time.time() + (at - self._clock())

    def from_wall(self, wall: float | None, at_most: float | None = None) -> float | None:
        """Wall-clock seconds as an engine-clock instant (None stays None), at most
        ``at_most`` seconds from now whatever the wall clock did meanwhile."""
        if wall is None:
            return None
        left = wall - time.time()
        if at_most is not None and left > at_most:
            if left > at_most + 1.0:  # more than rounding: the wall clock went back
                self.clamped = True
            left = at_most
        return self._clock() + left

    def now(self) -> float:
        """The engine's clock."""
        return self._clock()


def props_blob(props: dict) -> bytes:
    """MQTT 5.0 properties in wire form (length prefix included)."""
    return encode_properties(props) if props else EMPTY_PROPS


def props_from_blob(blob: bytes | None, packet_type: int = PUBLISH) -> dict:
    """The inverse of :func:`props_blob`."""
    if not blob or blob == EMPTY_PROPS:
        return {}
    return read_properties(Reader(bytes(blob)), packet_type)


def message_columns(msg: Message, clocks: Clocks) -> tuple[str, bytes, bytes, float | None]:
    """(topic, payload, properties, expires_wall) of a message."""
    return (msg.topic, msg.payload, *expiry_columns(msg, clocks))


def expiry_columns(msg: Message, clocks: Clocks) -> tuple[bytes, float | None]:
    """(properties, expires_wall) of a message: an expiry is stored twice, as a wall-clock
    time and as the Message Expiry Interval left now, among the properties (the cap)."""
    if msg.expires_at is None:
        return props_blob(msg.properties), None
    left = max(0, math.ceil(msg.expires_at - clocks.now()))
    props = {**msg.properties, "message_expiry_interval": left}
    return encode_properties(props), clocks.to_wall(msg.expires_at)


def message_from_columns(
    topic: str,
    payload: bytes,
    qos: int,
    retain: bool,
    props: bytes | None,
    expires_wall: float | None,
    clocks: Clocks,
) -> Message:
    """A Message rebuilt from its stored columns."""
    properties = props_from_blob(props)
    left = properties.pop("message_expiry_interval", None)  # None: a row from before the cap
    return Message(
        topic,
        bytes(payload),
        qos,
        bool(retain),
        properties,
        clocks.from_wall(expires_wall, left),
    )


def will_columns(will: Will | None) -> tuple:
    """(topic, payload, qos, retain, properties) of a will, all None without one."""
    if will is None:
        return (None, None, None, None, None)
    return (
        will.topic,
        will.payload,
        will.qos,
        int(will.retain),
        encode_properties(will.properties) if will.properties else EMPTY_PROPS,
    )


def will_from_columns(
    topic: str | None,
    payload: bytes | None,
    qos: int | None,
    retain: int | None,
    props: bytes | None,
) -> Will | None:
    """The inverse of :func:`will_columns`."""
    if topic is None:
        return None
    return Will(topic, bytes(payload or b""), qos or 0, bool(retain), props_from_blob(props, WILL))


def owner_columns(info: ClientInfo | None) -> tuple[str | None, str | None, str | None]:
    """(username, cert_cn, listener) of the user a session belongs to.

    The listener picks which policy (password file, ACL) answers for the user after a
    restart; it is never NULL for an owned session, so NULL marks a session whose user is
    unknown (written before sessions kept their user).
    """
    if info is None:
        return (None, None, None)
    return (info.username, info.cert_cn, info.listener or "default")


def owner_from_columns(
    client_id: str, username: str | None, cert_cn: str | None, listener: str | None
) -> ClientInfo | None:
    """The inverse of :func:`owner_columns`: None when the user is unknown."""
    if listener is None:
        return None
    return ClientInfo(client_id, username, "", listener, cert_cn)


def options_byte(o: SubscriptionOptions) -> int:
    """Subscription options packed as in an MQTT 5.0 SUBSCRIBE."""
    return (
        o.qos
        | (0x04 if o.no_local else 0)
        | (0x08 if o.retain_as_published else 0)
        | (o.retain_handling << 4)
    )


def options_from_byte(b: int) -> SubscriptionOptions:
    """The inverse of :func:`options_byte`."""
    return SubscriptionOptions(b & 0x03, bool(b & 0x04), bool(b & 0x08), (b >> 4) & 0x03)


def ids_text(ids: tuple[int, ...]) -> str | None:
    """Subscription identifiers as a short text ("3,7"), None when there are none."""
    return ",".join(map(str, ids)) if ids else None


def ids_from_text(text: str | None) -> tuple[int, ...]:
    """The inverse of :func:`ids_text`."""
    return tuple(int(x) for x in text.split(",")) if text else ()
