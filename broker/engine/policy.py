"""The authorization seam: who may connect, publish, subscribe and read."""

from __future__ import annotations

from collections.abc import Callable
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
    #: the answer of the policy's ``password_check``, run off the loop by the I/O shell
    #: (None: not run; ``authenticate`` then checks by itself)
    password_ok: bool | None = None


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

    # The engine skips per-message checks that cannot fail.
    restricts_publish = False
    restricts_read = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass that overrides a check must have it called: without this, it would
        # inherit "cannot fail" and the engine would silently skip its can_publish/can_read.
        if "restricts_publish" not in cls.__dict__:
            cls.restricts_publish = cls.can_publish is not AllowAll.can_publish
        if "restricts_read" not in cls.__dict__:
            cls.restricts_read = cls.can_read is not AllowAll.can_read

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


class DenySubscriptions:
    """Refuse subscriptions to filters that match a configured deny list; else ask ``inner``.

    A requested filter is denied when it equals a listed filter or when a listed filter
    matches it taken as a topic (``test/nosubscribe`` denies exactly that filter;
    ``secret/#`` denies everything below secret/).

    The list refuses a filter for everyone, whoever asks, so 5.0 clients get 0x80
    (Unspecified error) like 3.1.1 ones, as the Eclipse Paho interoperability suite expects
    of its ``test/nosubscribe`` topic; what ``inner`` (an ACL) denies a user stays 0x87.
    """

    def __init__(self, denied: list[str], inner: Policy | None = None) -> None:
        self.denied = list(denied)
        self.inner: Policy = inner if inner is not None else AllowAll()
        self.restricts_publish = getattr(self.inner, "restricts_publish", True)
        self.restricts_read = getattr(self.inner, "restricts_read", True)

    def authenticate(
        self, client: ClientInfo, username: str | None, password: bytes | None
    ) -> bool:
        return self.inner.authenticate(client, username, password)

    def password_check(
        self, client: ClientInfo, username: str | None, password: bytes | None
    ) -> Callable[[], bool] | None:
        check = getattr(self.inner, "password_check", None)
        return check(client, username, password) if check is not None else None

    def can_publish(self, client: ClientInfo, topic: str) -> bool:
        return self.inner.can_publish(client, topic)

    def _listed(self, topic_filter: str) -> bool:
        return any(d == topic_filter or topic_matches(d, topic_filter) for d in self.denied)

    def can_subscribe(self, client: ClientInfo, topic_filter: str) -> bool:
        if self._listed(topic_filter):
            return False
        return self.inner.can_subscribe(client, topic_filter)

    def subscribe_refusal(self, client: ClientInfo, topic_filter: str) -> int:
        """The 5.0 SUBACK code for a filter ``can_subscribe`` refused."""
        if self._listed(topic_filter):
            return 0x80
        inner = getattr(self.inner, "subscribe_refusal", None)
        return inner(client, topic_filter) if inner is not None else 0x87

    def can_read(self, client: ClientInfo, topic: str) -> bool:
        return self.inner.can_read(client, topic)

    def reload(self) -> bool:
        reload = getattr(self.inner, "reload", None)
        return reload() if reload is not None else True
