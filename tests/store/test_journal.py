"""The journal's batches, and which output waits for the commit (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from broker.config import BrokerConfig
from broker.engine.connection import Connection
from broker.engine.engine import Engine
from broker.engine.message import Message
from broker.engine.session import Outgoing, Session
from broker.protocol.codec import encode
from broker.protocol.packets import (
    Connect,
    Pingreq,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    SubscriptionOptions,
    Unsuback,
)
from broker.store import sqlite as sql
from broker.store.commit import must_wait
from broker.store.journal import Journal
from broker.store.records import Clocks


def _journal() -> tuple[Journal, Session]:
    journal = Journal(Clocks(lambda: 0.0))
    session = Session("phone")
    session.expiry_interval = 3600
    journal.session_saved(session)
    journal.take()
    return journal, session


def _statements(batch: sql.Batch) -> dict[str, int]:
    return {statement: len(rows) for statement, rows in batch if rows}


def test_delivery_acked_before_commit_is_never_written() -> None:
    journal, session = _journal()
    item = Outgoing(Message("t", b"x", 1), 1, False, ())
    journal.delivery_added(session, item)
    journal.delivery_sent(session, item, 7)
    journal.delivery_done(session, item)
    assert _statements(journal.take()) == {}


def test_delivery_written_once_then_deleted() -> None:
    journal, session = _journal()
    item = Outgoing(Message("t", b"x", 2), 2, False, (3,))
    journal.delivery_added(session, item)
    journal.delivery_sent(session, item, 7)
    (statement, rows), = journal.take()
    assert statement == sql.INSERT_DELIVERY
    assert rows[0][1:8] == ("phone", 7, 0, 2, 0, "3", "t")
    item.released = True
    journal.delivery_released(session, item)
    journal.delivery_done(session, item)
    assert _statements(journal.take()) == {sql.SET_RELEASED: 1, sql.DELETE_DELIVERY: 1}


def test_clean_sessions_and_sys_topics_are_not_stored() -> None:
    journal = Journal(Clocks(lambda: 0.0))
    clean = Session("tmp")
    journal.session_saved(clean)
    journal.delivery_added(clean, Outgoing(Message("t", b"x", 1), 1, False, ()))
    journal.retained_set(Message("$SYS/broker/uptime", b"1", 0, True))
    assert not journal.pending


def test_retained_updates_coalesce() -> None:
    journal = Journal(Clocks(lambda: 0.0))
    for value in (b"1", b"2", b"3"):
        journal.retained_set(Message("home/t", value, 0, True))
    journal.retained_set(Message("home/gone", b"", 0, True))
    batch = _statements(journal.take())
    assert batch == {sql.UPSERT_RETAINED: 1, sql.DELETE_RETAINED: 1}


def _queued(*packets: Any, version: int = 4, persistent: bool = True) -> Connection:
    """A real engine connection with ``packets`` queued the way the engine queues them."""
    conn = Engine(BrokerConfig(sys_interval=0)).connect("127.0.0.1:1883")
    conn.version = version
    if not persistent:
        conn.session = Session("clean")  # expiry 0: nothing of it is stored
    for packet in packets:
        if isinstance(packet, bytes):
            conn.send(packet)  # a QoS 0/1 delivery or PINGRESP: promises nothing
        else:
            conn.send_packet(packet)
    return conn


def test_only_promises_wait_for_the_commit() -> None:
    q1 = encode(Publish("t", b"x" * 300, 1, packet_id=1), 4)
    assert not must_wait(_queued(q1, q1))
    assert must_wait(_queued(q1, Puback(5)))
    assert must_wait(_queued(q1, Publish("t", b"x", 2, packet_id=2)))
    assert must_wait(_queued(Pubrec(3)))
    assert must_wait(_queued(Suback(1, [1])))
    conn = _queued(Puback(5))
    conn.take_output()
    assert not must_wait(conn)  # what was taken no longer counts


@pytest.mark.parametrize(
    "packet, version, waits",
    [
        (Puback(1), 4, True),
        (Puback(1), 5, True),
        (Puback(1, 0x10), 5, True),  # No matching subscribers: accepted all the same
        (Puback(1, 0x97), 5, False),
        (Pubrec(1, 0x80), 5, False),
        (Pubrec(1), 5, True),
    ],
)
def test_only_acknowledgements_that_accept_a_message_wait(
    packet: Any, version: int, waits: bool
) -> None:
    q1 = encode(Publish("t", b"x", 1, packet_id=9), 4)
    assert must_wait(_queued(q1, packet, version=version)) is waits


def test_the_engine_marks_what_its_packets_promise() -> None:
    """The real handlers, fed a client's bytes: PUBACK of an accepted message waits, a
    QoS 0 delivery and PINGRESP do not, SUBACK waits for a stored session only."""
    engine = Engine(BrokerConfig(sys_interval=0))
    for persistent in (True, False):
        conn = engine.connect("127.0.0.1:1883")
        conn.data_received(encode(Connect(client_id=f"c{persistent}", clean_start=not persistent), 4))
        if persistent:
            conn.session.expiry_interval = 3600  # type: ignore[union-attr]
        conn.take_output()  # CONNACK
        conn.data_received(encode(Pingreq(), 4))
        assert conn.out and not must_wait(conn)
        conn.data_received(encode(Subscribe(1, [("t", SubscriptionOptions(qos=0))]), 4))
        assert must_wait(conn) is persistent
        conn.take_output()
        conn.data_received(encode(Publish("t", b"x", 0), 4))  # delivered to itself, QoS 0
        assert conn.out and not must_wait(conn)
        conn.data_received(encode(Publish("t", b"x", 1, packet_id=3), 4))
        assert must_wait(conn)


def test_deliveries_that_ended_before_a_commit_do_not_pile_up() -> None:
    # While the disk refuses commits nothing is taken: a day of delivered-and-acknowledged
    # messages must not grow the journal without bound.
    journal, session = _journal()
    for _ in range(10_000):
        item = Outgoing(Message("t", b"x", 1), 1, False, ())
        journal.delivery_added(session, item)
        journal.delivery_done(session, item)
    assert len(journal._ops) <= 2048
    kept = Outgoing(Message("t", b"kept", 1), 1, False, ())
    journal.delivery_added(session, kept)
    assert _statements(journal.take()) == {sql.INSERT_DELIVERY: 1}


def test_a_session_nothing_is_stored_of_waits_only_for_its_messages() -> None:
    for packet in (Suback(1, [1]), Unsuback(2), Pubcomp(3), Pubrel(4)):
        assert must_wait(_queued(packet))  # a persistent session's state is written first
        assert not must_wait(_queued(packet, persistent=False))
    assert must_wait(_queued(Puback(5), persistent=False))  # the message is stored
    q2 = Publish("t", b"x", 2, packet_id=2)
    assert must_wait(_queued(q2, persistent=False))  # QoS 2: never twice, even across a crash
