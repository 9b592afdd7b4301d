"""Session state: what survives a connection, per client id."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from ..protocol.packets import Will
from .message import Message
from .policy import ClientInfo

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
    """A client's subscriptions, in-flight messages and queue, alive across reconnects.

    ``info`` is the user the session belongs to (the ClientInfo of the CONNECT that made or
    last resumed it, or rebuilt from the store): every delivery answers to its read rights.
    A network session with no ``info`` (restored from a store written before sessions kept
    their user) is owned by nobody yet: it receives nothing a policy could refuse until a
    client resumes it, and then only what that client may read.
    """

    callback = None  # in-process subscribers set a callable here
    #: In-process sessions are the gateway itself: they read everything, nobody resumes them.
    trusted = False

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
        self.info: ClientInfo | None = None

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

    def owned_by(self, client: ClientInfo) -> bool:
        """Whether ``client`` may resume or replace this session: the same user made it.

        The same user means the same user name and the same verified certificate name (the
        identities a policy can authenticate); anonymous sessions belong to anonymous clients.
        """
        if self.trusted:
            return False
        info = self.info
        if info is None:
            return True  # unowned (see the class docstring): deliveries are checked instead
        return info.username == client.username and info.cert_cn == client.cert_cn

    def __repr__(self) -> str:
        return f"Session({self.client_id!r}, online={self.online})"


class LocalSession(Session):
    """An in-process subscriber: messages go to a callback, never through a socket."""

    trusted = True

    def __init__(self, client_id: str, callback: Any) -> None:
        super().__init__(client_id)
        self.callback = callback

    @property
    def online(self) -> bool:
        return True
