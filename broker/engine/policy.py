"""The authorization seam: who may connect, publish, subscribe and read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .topics import topic_matches


@dataclass(slots=True)
class ClientInfo:
    """What a policy knows of a connected client."""

    client_id: str
    username: str | None = None
    peer: str = ""
    listener: str = "default"
    cert_cn: str | None = None


class Policy(Protocol):
    """Decisions the engine asks for; implementations must be fast and never raise."""

    def authenticate(
        self, client: ClientInfo, username: str | None, password: bytes | None
    ) -> bool: ...

    def can_publish(self, client: ClientInfo, topic: str) -> bool: ...

    def can_subscribe(self, client: ClientInfo, topic_filter: str) -> bool: ...

    def can_read(self, client: ClientInfo, topic: str) -> bool: ...


class AllowAll:
    """Everyone may do everything (the default on a loopback-only broker)."""

    def authenticate(
        self, client: ClientInfo, username: str | None, password: bytes | None
    ) -> bool:
        return True

    def can_publish(self, client: ClientInfo, topic: str) -> bool:
        return True

    def can_subscribe(self, client: ClientInfo, topic_filter: str) -> bool:
        return True

    def can_read(self, client: ClientInfo, topic: str) -> bool:
        return True


class DenySubscriptions(AllowAll):
    """Refuse subscriptions to filters that match a configured deny list.

    A requested filter is denied when it equals a listed filter or when a listed filter
    matches it taken as a topic (``test/nosubscribe`` denies exactly that filter;
    ``secret/#`` denies everything below secret/).
    """

    def __init__(self, denied: list[str]) -> None:
        self.denied = list(denied)

    def can_subscribe(self, client: ClientInfo, topic_filter: str) -> bool:
        return not any(d == topic_filter or topic_matches(d, topic_filter) for d in self.denied)
