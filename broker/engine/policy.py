"""The authorization seam, and the one place where the broker's policy is composed.

:class:`Policy` is the base class of every policy: each method has a real default (allow;
no slow password part; SUBACK code 0x87 for a refusal; nothing to reload), so the engine
calls them directly. A subclass that overrides ``can_publish`` or ``can_read`` has the
check made; one that does not costs nothing per message (``restricts_publish`` and
``restricts_read``, worked out when the subclass is defined).

:func:`compose` builds the policy the engine holds, from the configured policy object or
the listeners' own (:class:`ByListener`; each listener's is built by
broker.server.listeners.listener_policy), with the configured denied subscriptions on top
(:class:`DenySubscriptions`). The wrappers here pass every decision on explicitly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .addresses import is_loopback, peer_host
from .topics import topic_matches

if TYPE_CHECKING:
    from ..config import BrokerConfig

#: SUBACK (5.0) for a filter the policy refuses, unless it says otherwise.
NOT_AUTHORIZED = 0x87


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


class Policy:
    """Decisions the engine asks for; implementations must be fast and never raise.

    Every method allows by default: override what your policy decides.
    """

    #: Whether ``can_publish`` / ``can_read`` can say no (else the engine skips them).
    restricts_publish = False
    restricts_read = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass that overrides a check must have it called: without this, it would
        # inherit "cannot fail" and the engine would silently skip its can_publish/can_read.
        if "restricts_publish" not in cls.__dict__:
            cls.restricts_publish = cls.can_publish is not Policy.can_publish
        if "restricts_read" not in cls.__dict__:
            cls.restricts_read = cls.can_read is not Policy.can_read

    def authenticate(
        self, client: ClientInfo, username: str | None, password: bytes | None
    ) -> bool:
        """Whether the client may connect."""
        return True

    def password_check(
        self, client: ClientInfo, username: str | None, password: bytes | None
    ) -> Callable[[], bool] | None:
        """The slow part of ``authenticate`` (hashing a password), for the I/O shell to run
        off the event loop; None when there is none."""
        return None

    def can_publish(self, client: ClientInfo, topic: str) -> bool:
        return True

    def can_subscribe(self, client: ClientInfo, topic_filter: str) -> bool:
        return True

    def subscribe_refusal(self, client: ClientInfo, topic_filter: str) -> int:
        """The 5.0 SUBACK code for a filter ``can_subscribe`` refused."""
        return NOT_AUTHORIZED

    def can_read(self, client: ClientInfo, topic: str) -> bool:
        """Checked on every delivery path, for the user the session belongs to."""
        return True

    def reload(self) -> bool:
        """Re-read whatever the policy is built from (SIGHUP); False keeps the old rules."""
        return True


class AllowAll(Policy):
    """Everyone may do everything (the default on a loopback-only broker)."""


class Wrapper(Policy):
    """A policy that passes every decision to ``inner``; subclasses change some."""

    def __init__(self, inner: Policy) -> None:
        self.inner = inner
        self.restricts_publish = inner.restricts_publish
        self.restricts_read = inner.restricts_read

    def authenticate(
        self, client: ClientInfo, username: str | None, password: bytes | None
    ) -> bool:
        return self.inner.authenticate(client, username, password)

    def password_check(
        self, client: ClientInfo, username: str | None, password: bytes | None
    ) -> Callable[[], bool] | None:
        return self.inner.password_check(client, username, password)

    def can_publish(self, client: ClientInfo, topic: str) -> bool:
        return self.inner.can_publish(client, topic)

    def can_subscribe(self, client: ClientInfo, topic_filter: str) -> bool:
        return self.inner.can_subscribe(client, topic_filter)

    def subscribe_refusal(self, client: ClientInfo, topic_filter: str) -> int:
        return self.inner.subscribe_refusal(client, topic_filter)

    def can_read(self, client: ClientInfo, topic: str) -> bool:
        return self.inner.can_read(client, topic)

    def reload(self) -> bool:
        return self.inner.reload()


class DenySubscriptions(Wrapper):
    """Refuse subscriptions to filters that match a configured deny list; else ask ``inner``.

    A requested filter is denied when it equals a listed filter or when a listed filter
    matches it taken as a topic (``test/nosubscribe`` denies exactly that filter;
    ``secret/#`` denies everything below secret/).

    The list refuses a filter for everyone, whoever asks, so 5.0 clients get 0x80
    (Unspecified error) like 3.1.1 ones, as the Eclipse Paho interoperability suite expects
    of its ``test/nosubscribe`` topic; what ``inner`` (an ACL) denies a user stays 0x87.
    """

    def __init__(self, denied: list[str], inner: Policy | None = None) -> None:
        super().__init__(inner if inner is not None else AllowAll())
        self.denied = list(denied)

    def _listed(self, topic_filter: str) -> bool:
        return any(d == topic_filter or topic_matches(d, topic_filter) for d in self.denied)

    def can_subscribe(self, client: ClientInfo, topic_filter: str) -> bool:
        if self._listed(topic_filter):
            return False
        return self.inner.can_subscribe(client, topic_filter)

    def subscribe_refusal(self, client: ClientInfo, topic_filter: str) -> int:
        if self._listed(topic_filter):
            return 0x80
        return self.inner.subscribe_refusal(client, topic_filter)


class LoopbackAnonymous(Wrapper):
    """Anonymous clients from loopback addresses are accepted; else ask ``inner`` (a
    listener whose ``allow_anonymous`` is not set)."""

    def authenticate(
        self, client: ClientInfo, username: str | None, password: bytes | None
    ) -> bool:
        if username is None and is_loopback(peer_host(client.peer)):
            return True
        return self.inner.authenticate(client, username, password)


class ByListener(Policy):
    """One Policy per listener name (``ClientInfo.listener``), behind the single seam.

    Lets each listener (tcp on loopback, tls, ws on the LAN, ...) have its own password file,
    ACL and anonymous rule while the engine holds one policy object. A client on a listener
    with no entry gets ``default``.
    """

    def __init__(self, policies: dict[str, Policy], default: Policy) -> None:
        self.policies = dict(policies)
        self.default = default
        every = [*self.policies.values(), default]
        self.restricts_publish = any(p.restricts_publish for p in every)
        self.restricts_read = any(p.restricts_read for p in every)

    def _for(self, client: ClientInfo) -> Policy:
        return self.policies.get(client.listener, self.default)

    def authenticate(
        self, client: ClientInfo, username: str | None, password: bytes | None
    ) -> bool:
        return self._for(client).authenticate(client, username, password)

    def password_check(
        self, client: ClientInfo, username: str | None, password: bytes | None
    ) -> Callable[[], bool] | None:
        return self._for(client).password_check(client, username, password)

    def can_publish(self, client: ClientInfo, topic: str) -> bool:
        return self._for(client).can_publish(client, topic)

    def can_subscribe(self, client: ClientInfo, topic_filter: str) -> bool:
        return self._for(client).can_subscribe(client, topic_filter)

    def subscribe_refusal(self, client: ClientInfo, topic_filter: str) -> int:
        return self._for(client).subscribe_refusal(client, topic_filter)

    def can_read(self, client: ClientInfo, topic: str) -> bool:
        return self._for(client).can_read(client, topic)

    def reload(self) -> bool:
        """Reload every listener's policy; True when all of them reloaded."""
        unique = {id(p): p for p in [*self.policies.values(), self.default]}.values()
        return all([p.reload() for p in unique])


class _Adapted(Wrapper):
    """A policy object that does not derive from :class:`Policy` (docs/contracts.md: the
    four decisions): what it lacks gets the defaults, looked up once here."""

    def __init__(self, obj: Any) -> None:
        self.inner = obj
        default = Policy()
        for name in ("authenticate", "password_check", "can_publish", "can_subscribe",
                     "subscribe_refusal", "can_read", "reload"):  # fmt: skip
            setattr(self, name, getattr(obj, name, getattr(default, name)))
        self.restricts_publish = getattr(obj, "restricts_publish", True)
        self.restricts_read = getattr(obj, "restricts_read", True)


def as_policy(obj: Any) -> Policy:
    """``obj`` itself when it is a :class:`Policy`, else adapted to one."""
    return obj if isinstance(obj, Policy) else _Adapted(obj)


def compose(config: BrokerConfig, listeners: dict[str, Policy] | None = None) -> Policy:
    """The policy the engine holds: the configured policy object, else the listeners' own
    (by listener name; allow-all when none of them restricts anything), with the
    configured denied subscriptions on top."""
    policy: Policy
    if config.policy is not None:
        policy = as_policy(config.policy)
    elif listeners and not all(isinstance(p, AllowAll) for p in listeners.values()):
        # Clients of in-process transports (serial nodes) are trusted like loopback ones.
        policy = ByListener(listeners, AllowAll())
    else:
        policy = AllowAll()
    if config.deny_subscribe:
        policy = DenySubscriptions(config.deny_subscribe, policy)
    return policy
