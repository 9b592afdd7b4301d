"""Every delivery path answers to the session user's read right (issue 19, point 2).

Sans-IO: the engine with a policy whose grants the test changes, as a SIGHUP reload of the
ACL file would. Messages the user may no longer read must not leave through the re-sent
in-flight window or the queue drained after back-pressure.
"""

from __future__ import annotations

from broker.config import BrokerConfig
from broker.engine.policy import AllowAll, ClientInfo
from broker.engine.router import Engine
from broker.protocol import Decoder, encode
from broker.protocol.packets import Connect, Subscribe, SubscriptionOptions


class Grants(AllowAll):
    """Reads granted per user by topic prefix; the test edits ``readable``."""

    def __init__(self) -> None:
        self.readable: dict[str | None, tuple[str, ...]] = {"alice": ("home/", "secret/")}

    def can_read(self, client: ClientInfo, topic: str) -> bool:
        return topic.startswith(self.readable.get(client.username, ()))


def _connect(engine: Engine, user: str, clean: bool = False):
    conn = engine.connect("198.18.0.2:4000")
    conn.data_received(
        encode(Connect(client_id=f"{user}-tablet", clean_start=clean, username=user), 4)
    )
    return conn


def _published(conn) -> list[str]:
    packets = Decoder(version=4).feed(b"".join(conn.out))
    conn.out.clear()
    return [p.topic for p in packets if p.type == 3]


def _setup() -> tuple[Engine, Grants]:
    grants = Grants()
    engine = Engine(BrokerConfig())
    engine.policy = grants
    conn = _connect(engine, "alice")
    conn.data_received(encode(Subscribe(1, [("#", SubscriptionOptions(qos=1))]), 4))
    conn.out.clear()
    return engine, grants


def test_in_flight_messages_are_not_resent_once_unreadable() -> None:
    engine, grants = _setup()
    conn = engine.sessions["alice-tablet"].connection
    engine.publish("secret/code", "1", qos=1)
    engine.publish("home/light", "on", qos=1)
    assert _published(conn) == ["secret/code", "home/light"]  # sent, never acknowledged
    conn.connection_lost()
    grants.readable["alice"] = ("home/",)  # the ACL changed while she was away
    conn = _connect(engine, "alice")
    assert _published(conn) == ["home/light"]
    assert list(engine.sessions["alice-tablet"].outgoing.values())[0].message.topic == "home/light"


def test_queued_messages_drained_after_back_pressure_are_checked() -> None:
    engine, grants = _setup()
    conn = engine.sessions["alice-tablet"].connection
    conn.pause_writing()  # a slow reader: messages wait in the session's queue
    for topic in ("secret/code", "home/light"):
        engine.publish(topic, "x", qos=1)
        engine.publish(topic, "y", qos=0)
    assert _published(conn) == []
    grants.readable["alice"] = ("home/",)
    conn.resume_writing()
    assert _published(conn) == ["home/light", "home/light"]
    assert not engine.sessions["alice-tablet"].queue


def test_queued_messages_for_an_offline_session_are_checked_on_resume() -> None:
    engine, grants = _setup()
    engine.sessions["alice-tablet"].connection.connection_lost()
    engine.publish("secret/code", "1", qos=1)
    engine.publish("home/light", "on", qos=1)
    grants.readable["alice"] = ("home/",)
    conn = _connect(engine, "alice")
    assert _published(conn) == ["home/light"]
