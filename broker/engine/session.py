"""Session state: what survives a connection, per client id."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from ..protocol.packets import Will
from .message import Message

if TYPE_CHECKING:
    from .connection import Connection
    from .subscriptions import Subscription

NEVER = 0xFFFFFFFF


class Outgoing:
    """A QoS 1/2 message sent to the client and not yet fully acknowledged."""

    __slots__ = ("message", "qos", "retain", "sub_ids", "released")

    def __init__(self, message: Message, qos: int, retain: bool, sub_ids: tuple[int, ...]) -> None:
        self.message = message
        self.qos = qos
        self.retain = retain
        self.sub_ids = sub_ids
        #: QoS 2: PUBREC received and PUBREL sent; awaiting PUBCOMP.
        self.released = False


class Session:
    """A client's subscriptions, in-flight messages and queue, alive across reconnects."""

    callback = None  # in-process subscribers set a callable here

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        self.connection: Connection | None = None
        self.subscriptions: dict[str, Subscription] = {}
        self.outgoing: dict[int, Outgoing] = {}
        self.queue: deque[Outgoing] = deque()
        self.queued_bytes = 0
        self.incoming_qos2: set[int] = set()
        self.expiry_interval = 0
        self.expires_at: float | None = None
        self.will: Will | None = None
        self.will_at: float | None = None
        self.dropped = 0
        self._next_id = 0
        self.info: Any = None  # ClientInfo of the last connection, for read authorization

    @property
    def online(self) -> bool:
        return self.connection is not None

    def next_packet_id(self) -> int:
        """A packet identifier not in use by an outgoing message."""
        outgoing = self.outgoing
        for _ in range(65535):
            self._next_id = self._next_id % 65535 + 1
            if self._next_id not in outgoing:
                return self._next_id
        raise RuntimeError("all packet identifiers in use")

    def __repr__(self) -> str:
        return f"Session({self.client_id!r}, online={self.online})"


class LocalSession(Session):
    """An in-process subscriber: messages go to a callback, never through a socket."""

    def __init__(self, client_id: str, callback: Any) -> None:
        super().__init__(client_id)
        self.callback = callback

    @property
    def online(self) -> bool:
        return True
