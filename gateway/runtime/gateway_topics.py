"""Topics only the gateway itself publishes on its embedded broker, whatever the ACL says.

A node installs whatever image a retained ``.../firmware/offer`` points it at, so an offer
is as good as flashing the node. The gateway publishes offers (and the Home Assistant
update ``state`` that goes with them) in-process, which no broker policy sees; every client
that connects over the network or a serial cable is refused these topics (its PUBLISH is
dropped, MQTT 5 clients get 0x87 in their PUBACK, a will there refuses the CONNECT),
including users an ACL grants ``readwrite home/#`` and the appliance's users, whose default
setup has no ACL file at all. Only the machine itself is trusted as the gateway is: clients
without a user name from a loopback address (the gateway's own tools; a process that can
do that can also read the gateway's data directory). A loopback client that logs in as a
user is that user, and refused like the others.
"""

from __future__ import annotations

from collections.abc import Iterable

from broker.engine.addresses import is_loopback, peer_host
from broker.engine.policy import ClientInfo, Policy, Wrapper
from broker.engine.topics import topic_matches


def firmware_only_topics(prefix: str) -> tuple[str, ...]:
    """The node firmware topics reserved to the gateway under ``prefix``."""
    return (f"{prefix}/+/+/firmware/offer", f"{prefix}/+/+/firmware/state")


class GatewayOnlyTopics(Wrapper):
    """``inner``'s decisions, except that only anonymous loopback clients may publish to
    ``reserved``."""

    restricts_publish = True

    def __init__(self, inner: Policy, reserved: Iterable[str]) -> None:
        super().__init__(inner)
        self.restricts_publish = True
        self.reserved = tuple(reserved)
        # Every network PUBLISH passes here: a substring test spares the others the match.
        self._last_levels = {f.rsplit("/", 2)[-2] + "/" for f in self.reserved}

    def can_publish(self, client: ClientInfo, topic: str) -> bool:
        if any(level in topic for level in self._last_levels) and any(
                topic_matches(f, topic) for f in self.reserved):
            return client.username is None and is_loopback(peer_host(client.peer))
        return self.inner.can_publish(client, topic)


def reserve_for_gateway(broker: object, reserved: Iterable[str]) -> None:
    """Put the reservation on top of the running broker's policy (after ``start``, which
    builds it; a reload keeps the wrapper and reloads what it wraps)."""
    engine = broker.engine  # type: ignore[attr-defined]
    engine.policy = GatewayOnlyTopics(engine.policy, reserved)
