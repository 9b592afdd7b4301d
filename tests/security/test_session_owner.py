"""A persistent session belongs to the user who made it (issue 19, point 2).

Attacks come from the LAN (``lan`` fixture); the gateway's own publisher sits on loopback.
alice may read ``secret/#`` and ``home/#``; phone only ``home/#``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from support.lan import Lan

from broker.auth.passwords import PasswordFile
from broker.store.sqlite import OWNER_COLUMNS, SCHEMA

from .harness import Client

ACL = """\
user alice
topic readwrite secret/#
topic readwrite home/#

user phone
topic read home/#
"""

REFUSED = 0x87  # paho reports the 3.1.1 return code 5 as "Not authorized"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    users = PasswordFile()
    users.set_password("alice", "alice-password", iterations=1000)
    users.set_password("phone", "phone-password", iterations=1000)
    users.save(tmp_path / "passwd")
    (tmp_path / "acl").write_text(ACL)
    return {"password_file": str(tmp_path / "passwd"), "acl_file": str(tmp_path / "acl")}


def _listeners(lan: Lan, files: dict[str, str]) -> list[dict]:
    return [
        {"name": "local", "kind": "tcp"},  # the gateway's side: no files, loopback only
        {"name": "lan", "kind": "tcp", "host": lan.host_ip, "allow_anonymous": False, **files},
    ]


class Clients:
    """Clients made in a test, all closed at its end."""

    def __init__(self) -> None:
        self.made: list[Client] = []

    def __call__(self, port: int, **kw) -> Client:
        self.made.append(Client(port, **kw))
        return self.made[-1]

    def close(self) -> None:
        for c in self.made:
            try:
                c.close()
            except Exception:
                pass


@pytest.fixture
def clients():
    made = Clients()
    yield made
    made.close()


def _user(port: int, clients: Clients, name: str, client_id: str) -> Client:
    return clients(
        port, client_id=client_id, username=name, password=f"{name}-password", clean_session=False
    )


def test_another_user_cannot_resume_or_replace_a_session(
    lan: Lan, files, broker_thread, clients
) -> None:
    running = broker_thread(listeners=_listeners(lan, files))
    local, port = running.ports["local"], running.ports["lan"]
    gateway = clients(local)
    assert gateway.connect() == 0

    alice = _user(port, clients, "alice", "alice-tablet")
    assert alice.connect(lan) == 0
    assert alice.subscribe("secret/#", 1) == [1]
    # While alice is online, phone can neither take her client id over nor kick her off.
    intruder = _user(port, clients, "phone", "alice-tablet")
    assert intruder.connect(lan) == REFUSED
    gateway.publish("secret/door-code", "1234", qos=1)
    assert alice.expect("secret/door-code") == b"1234"
    alice.close()

    gateway.publish("secret/door-code", "4321", qos=1)  # queued for alice
    for clean in (False, True):
        phone = clients(
            port,
            client_id="alice-tablet",
            username="phone",
            password="phone-password",
            clean_session=clean,
        )
        assert phone.connect(lan) == REFUSED, f"clean session {clean}"
        phone.expect_nothing(0.5)
    phone5 = clients(  # MQTT 5.0, as in Mosquitto's issue #3553
        port,
        client_id="alice-tablet",
        username="phone",
        password="phone-password",
        protocol=mqtt.MQTTv5,
    )
    assert phone5.connect(lan) == REFUSED

    # Her session is whole: neither attempt took her queued message or ended her session.
    alice = _user(port, clients, "alice", "alice-tablet")
    assert alice.connect(lan) == 0
    assert alice.expect("secret/door-code") == b"4321"
    assert alice.client._client_id == b"alice-tablet"


def test_in_process_subscribers_cannot_be_taken_over(lan: Lan, files, broker_thread, clients):
    running = broker_thread(listeners=_listeners(lan, files))
    got: list[bytes] = []
    running.loop.call(running.broker.subscribe, "home/#", lambda m: got.append(m.payload))
    local_id = next(iter(running.broker.engine.sessions))
    assert local_id.startswith("$local-")
    for clean in (False, True):
        c = clients(
            running.ports["lan"],
            client_id=local_id,
            username="phone",
            password="phone-password",
            clean_session=clean,
        )
        assert c.connect(lan) == REFUSED
    running.loop.call(running.broker.publish, "home/relay", "on")
    assert got == [b"on"]


def test_restored_sessions_answer_to_their_users_acl(
    lan: Lan, files, broker_thread, clients, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    running = broker_thread(listeners=_listeners(lan, files), data_dir=str(data))
    phone = _user(running.ports["lan"], clients, "phone", "phone-1")
    assert phone.connect(lan) == 0
    assert phone.subscribe("#", 1) == [1]  # allowed: phone may read part of it
    alice = _user(running.ports["lan"], clients, "alice", "alice-tablet")
    assert alice.connect(lan) == 0
    assert alice.subscribe("secret/#", 1) == [1]
    phone.close()
    alice.close()
    running.loop.run(running.stop())

    running = broker_thread(listeners=_listeners(lan, files), data_dir=str(data))
    port = running.ports["lan"]
    gateway = clients(running.ports["local"])
    assert gateway.connect() == 0
    for topic in ("secret/door-code", "homeassistant/switch/x/config", "home/hall/motion"):
        gateway.publish(topic, "v", qos=1)

    # Restored sessions still belong to their users.
    assert _user(port, clients, "phone", "alice-tablet").connect(lan) == REFUSED
    phone = _user(port, clients, "phone", "phone-1")
    assert phone.connect(lan) == 0
    assert phone.expect("home/hall/motion") == b"v"
    phone.expect_nothing(1.0)
    alice = _user(port, clients, "alice", "alice-tablet")
    assert alice.connect(lan) == 0
    assert alice.expect("secret/door-code") == b"v"


def _version_1_store(path: Path) -> None:
    """A store as the broker wrote it before sessions kept their user."""
    owner = "".join(f", {name} {kind}" for name, kind in OWNER_COLUMNS)
    assert owner in SCHEMA
    path.mkdir()
    db = sqlite3.connect(path / "broker.db")
    db.executescript(SCHEMA.replace(owner, ""))
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    never = 0xFFFFFFFF
    db.execute(
        "INSERT INTO sessions VALUES ('old-phone', ?, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        (never,),
    )
    db.execute("INSERT INTO subscriptions VALUES ('old-phone', '#', 1, NULL)")
    for seq, topic in ((1, "secret/door-code"), (2, "home/hall/light")):
        db.execute(
            "INSERT INTO deliveries VALUES (?, 'old-phone', NULL, 0, 1, 0, NULL, ?, ?, ?, NULL)",
            (seq, topic, b"queued", b"\x00"),
        )
    db.commit()
    db.close()


def test_sessions_from_an_older_store_gain_no_rights(
    lan: Lan, files, broker_thread, clients, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    _version_1_store(data)
    running = broker_thread(listeners=_listeners(lan, files), data_dir=str(data))
    gateway = clients(running.ports["local"])
    assert gateway.connect() == 0
    gateway.publish("secret/door-code", "live", qos=1)  # unowned session: not queued
    phone = _user(running.ports["lan"], clients, "phone", "old-phone")
    assert phone.connect(lan) == 0  # the first to resume it owns it ...
    # ... and receives only what it may read: not the queued secret, not the live one.
    assert phone.expect("home/hall/light") == b"queued"
    phone.expect_nothing(1.0)
    phone.close()
    assert _user(running.ports["lan"], clients, "alice", "old-phone").connect(lan) == REFUSED
    running.loop.run(running.stop())
    db = sqlite3.connect(data / "broker.db")
    assert db.execute("SELECT username, listener FROM sessions").fetchall() == [("phone", "lan")]
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("2",)
    db.close()
