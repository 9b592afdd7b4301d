"""Column values for the store's rows: messages, wills, subscription options, times.

The engine keeps expiry times on its monotonic clock; on disk they are wall-clock seconds
so they stay meaningful across a restart (or a reboot). MQTT 5.0 properties are stored in
their wire encoding, which the protocol codec already knows how to read back.
"""

from __future__ import annotations

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

    def to_wall(self, at: float | None) -> float | None:
        """An engine-clock instant as wall-clock seconds (None stays None)."""
        if at is None:
            return None
        return time.time() + (at - self._clock())

    def from_wall(self, wall: float | None) -> float | None:
        """Wall-clock seconds as an engine-clock instant (None stays None)."""
        if wall is None:
            return None
        return self._clock() + (wall - time.time())


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
    return msg.topic, msg.payload, props_blob(msg.properties), clocks.to_wall(msg.expires_at)


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
    return Message(
        topic,
        bytes(payload),
        qos,
        bool(retain),
        props_from_blob(props),
        clocks.from_wall(expires_wall),
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
