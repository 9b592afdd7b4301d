"""The policy is composed in one place (broker.engine.policy.compose) from a base class
whose methods have real defaults: every wrapper passes every decision on."""

from __future__ import annotations

from broker.config import BrokerConfig
from broker.engine.engine import Engine
from broker.engine.policy import (
    AllowAll,
    ByListener,
    ClientInfo,
    DenySubscriptions,
    LoopbackAnonymous,
    Policy,
    compose,
)


class ReadOnlyLan(Policy):
    """A listener's policy that refuses subscriptions with its own code and reads nothing."""

    def can_subscribe(self, client: ClientInfo, topic_filter: str) -> bool:
        return False

    def subscribe_refusal(self, client: ClientInfo, topic_filter: str) -> int:
        return 0x8F  # Topic Filter invalid, as this listener chooses to say

    def can_read(self, client: ClientInfo, topic: str) -> bool:
        return False

    def password_check(self, client, username, password):  # noqa: ANN001, ANN201
        return lambda: password == b"right"


def test_the_base_class_allows_and_checks_nothing_per_message() -> None:
    policy = Policy()
    client = ClientInfo("c")
    assert policy.authenticate(client, None, None) and policy.can_read(client, "t")
    assert policy.password_check(client, "u", b"p") is None
    assert policy.subscribe_refusal(client, "t") == 0x87 and policy.reload() is True
    assert not Policy.restricts_read and not AllowAll.restricts_publish
    assert ReadOnlyLan.restricts_read and not ReadOnlyLan.restricts_publish


def test_compose_layers_the_deny_list_over_the_listeners_own() -> None:
    config = BrokerConfig(deny_subscribe=["secret/#"])
    assert type(compose(BrokerConfig(), {"local": AllowAll()})) is AllowAll
    policy = compose(config, {"lan": LoopbackAnonymous(ReadOnlyLan()), "local": AllowAll()})
    assert isinstance(policy, DenySubscriptions) and isinstance(policy.inner, ByListener)
    assert policy.restricts_read  # one listener reads through an ACL: checks are made
    lan, local = ClientInfo("a", listener="lan"), ClientInfo("b", listener="local")
    assert policy.subscribe_refusal(lan, "secret/x") == 0x80  # the deny list's own code
    assert policy.subscribe_refusal(lan, "home/x") == 0x8F  # passed to the listener's policy
    assert policy.subscribe_refusal(local, "home/x") == 0x87
    job = policy.password_check(ClientInfo("a", peer="198.18.0.2:5", listener="lan"), "u",
                                b"right")
    assert job is not None and job() is True
    assert not policy.can_read(lan, "home/x") and policy.can_read(local, "home/x")


def test_a_policy_object_of_the_four_decisions_is_adapted_once() -> None:
    class Bare:  # docs/contracts.md: the four decisions, nothing else
        def authenticate(self, client, username, password):  # noqa: ANN001, ANN201
            return username == "ann"

        def can_publish(self, client, topic):  # noqa: ANN001, ANN201
            return True

        def can_subscribe(self, client, topic_filter):  # noqa: ANN001, ANN201
            return not topic_filter.startswith("x")

        def can_read(self, client, topic):  # noqa: ANN001, ANN201
            return True

    engine = Engine(BrokerConfig(policy=Bare(), sys_interval=0))
    client = ClientInfo("c")
    assert engine.policy.authenticate(client, "ann", None)
    assert not engine.policy.authenticate(client, "bob", None)
    assert engine.policy.subscribe_refusal(client, "x") == 0x87
    assert engine.policy.password_check(client, "ann", b"") is None
    assert engine.policy.reload() is True
