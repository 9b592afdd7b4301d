"""What the signed-in user may see and switch: the broker's own ACL answers, asked for them.

The dashboard acts for its user as if that user had connected over MQTT to the listener
whose password file signs them in: it asks the broker's policy (``broker.engine.policy``,
the object that decides for network clients, reloaded on SIGHUP) with a ``ClientInfo``
naming that user on that listener. So a value the user may not read over MQTT is not on
their page, in their history or on their live socket, and a command they may not publish
over MQTT is refused here too.

The client id is ``dashboard/<user>``: a ``/`` keeps ``pattern ... %c`` ACL lines from ever
applying to it (they only grant a client its own id's topics).

The machine itself (loopback) is trusted with everything, as the README says: whoever is on
the box can read the files anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from broker.engine.policy import ClientInfo

if TYPE_CHECKING:
    from broker import Broker

#: the name the page shows for a loopback visitor (no login)
LOCAL = "(local)"
#: where the dashboard checks for a user's right to see broker figures
SYS_PROBE = "$SYS/broker/uptime"


@dataclass(frozen=True)
class Viewer:
    """One signed-in user, with the broker's answers for them; ``info`` None: loopback."""

    name: str
    policy: Any = None
    info: ClientInfo | None = None

    def may_read(self, topic: str) -> bool:
        """Would the broker deliver a message on ``topic`` to this user?"""
        return self.info is None or bool(self.policy.can_read(self.info, topic))

    def may_write(self, topic: str) -> bool:
        """Would the broker accept this user's PUBLISH on ``topic``?"""
        return self.info is None or bool(self.policy.can_publish(self.info, topic))


LOCAL_VIEWER = Viewer(LOCAL)


def listener_for(broker: Broker, password_file: str | None) -> str:
    """The name of the listener whose users the dashboard signs in: the first one reading
    ``password_file`` (else the first with any password file). Its ACL is the user's."""
    from broker.server.listeners import ListenerConfig

    listeners = [ListenerConfig.from_value(v) for v in broker.config.listeners]
    with_users = [lc for lc in listeners if lc.password_file]
    for lc in with_users:
        if password_file is not None and str(lc.password_file) == str(password_file):
            return lc.name
    return with_users[0].name if with_users else "dashboard"


class Access:
    """Makes :class:`Viewer` objects for one broker listener."""

    def __init__(self, broker: Broker, listener: str) -> None:
        self.broker = broker
        self.listener = listener

    def viewer(self, user: str, peer: str = "") -> Viewer:
        """The broker's view of ``user`` (``LOCAL``: loopback, trusted)."""
        if user == LOCAL:
            return LOCAL_VIEWER
        info = ClientInfo(f"dashboard/{user}", user, peer, self.listener)
        return Viewer(user, self.broker.engine.policy, info)
