"""The journal's batches, and which output waits for the commit (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from broker.engine.message import Message
from broker.engine.session import Outgoing, Session
from broker.protocol.codec import encode
from broker.protocol.packets import Puback, Pubcomp, Publish, Pubrec, Pubrel, Suback, Unsuback
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


def test_only_promises_wait_for_the_commit() -> None:
    q1 = encode(Publish("t", b"x" * 300, 1, packet_id=1), 4)
    q2 = encode(Publish("t", b"x", 2, packet_id=2), 4)
    ack = encode(Puback(5), 4)
    assert not must_wait([q1, q1])
    assert not must_wait([q1 + q1])  # several packets in one chunk
    assert must_wait([q1, ack])
    assert must_wait([q1 + q2])
    assert must_wait([encode(Pubrec(3), 4)])
    assert must_wait([encode(Suback(1, [1]), 4)])


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
    assert must_wait([q1, encode(packet, version)]) is waits


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
    q2 = encode(Publish("t", b"x", 2, packet_id=2), 4)
    for packet in (Suback(1, [1]), Unsuback(2), Pubcomp(3), Pubrel(4)):
        data = encode(packet, 4)
        assert must_wait([data])  # a persistent session's state is written first
        assert not must_wait([data], persistent=False)
    assert must_wait([encode(Puback(5), 4)], persistent=False)  # the message is stored
    assert must_wait([q2], persistent=False)  # QoS 2: never twice, even across a crash
