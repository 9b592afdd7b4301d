"""Putting a store snapshot back into the engine, before the first client connects."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..engine.session import NEVER, Outgoing, Session
from ..engine.subscriptions import Subscription
from .records import (
    Clocks,
    ids_from_text,
    message_from_columns,
    options_from_byte,
    owner_from_columns,
    will_from_columns,
)
from .sqlite import Snapshot, session_row

if TYPE_CHECKING:
    from ..engine.router import Engine
    from .journal import Journal

log = logging.getLogger("broker.store")


def restore(engine: Engine, snap: Snapshot, journal: Journal, clocks: Clocks) -> int:
    """Load ``snap`` into ``engine`` and tell ``journal`` which rows exist.

    Every restored session is offline (its client reconnects). Rows that cannot be decoded
    (possible only after salvage) are skipped; returns how many were.
    """
    skipped = 0
    now = engine.clock()
    for row in snap.retained:
        clocks.clamped = False
        try:
            topic, payload, qos, props, expires = row
            msg = message_from_columns(topic, payload, qos, True, props, expires, clocks)
        except Exception:  # a salvaged row of the wrong shape
            skipped += 1
            continue
        if payload and (msg.expires_at is None or msg.expires_at > now):
            engine.retained.set(msg)
            if clocks.clamped:  # written again on the wall clock as it is now
                journal.retained_set(msg)
    sessions: dict[str, Session] = {}
    for row in snap.sessions:
        clocks.clamped = False
        try:
            session = _session(row, clocks, now)
        except Exception:
            skipped += 1
            continue
        if clocks.clamped:
            journal.session_saved(session)
        sessions[session.client_id] = session
        engine.sessions[session.client_id] = session
        journal.persisted.add(session.client_id)
        if session.expires_at is not None:
            engine.offline[session] = session.expires_at
        if session.will_at is not None:
            engine.delayed_wills.add(session)
    for row in snap.subscriptions:
        try:
            client_id, topic_filter, options, identifier = row
            session = sessions[client_id]
            sub = Subscription(session, topic_filter, options_from_byte(options), identifier)
        except Exception:
            skipped += 1
            continue
        engine.subscriptions.add(sub)
        session.subscriptions[topic_filter] = sub
    last_seq = 0
    for row in snap.deliveries:
        try:
            last_seq = max(last_seq, row[0])
            _delivery(row, sessions, journal, clocks)
        except Exception:
            skipped += 1
    journal.next_seq = last_seq + 1
    for row in snap.incoming_qos2:
        client_id, packet_id = row
        session = sessions.get(client_id)
        if session is None:
            skipped += 1
            continue
        session.incoming_qos2.add(packet_id)
    if skipped and not snap.salvaged:  # after salvage, recovery's one line says it all
        log.warning("store: %d unreadable rows skipped", skipped)
    return skipped


def _session(row: tuple, clocks: Clocks, now: float) -> Session:
    (client_id, expiry, expires, w_topic, w_payload, w_qos, w_retain, w_props, will_at) = row[:9]
    session = Session(client_id)
    # Its user's read rights govern what it is sent; a row from before version 2 has none,
    # so the session receives nothing a policy could refuse until a client resumes it.
    session.info = owner_from_columns(client_id, *session_row(row)[9:])
    if session.info is None:
        log.info("store: session %s has no recorded user; the next to resume it owns it", client_id)
    session.expiry_interval = expiry
    if expiry != NEVER:
        # A session that was online when the broker stopped starts its expiry now.
        at = clocks.from_wall(expires, expiry)
        session.expires_at = at if at is not None else now + expiry
    session.will = will = will_from_columns(w_topic, w_payload, w_qos, w_retain, w_props)
    if will is not None:
        delay = min(will.properties.get("will_delay_interval", 0), expiry)
        session.will_at = clocks.from_wall(will_at, delay)
    return session


def _delivery(row: tuple, sessions: dict[str, Session], journal: Journal, clocks: Clocks) -> None:
    (seq, client_id, packet_id, released, qos, retain, ids, topic, payload, props, expires) = row
    session = sessions[client_id]
    if released:
        msg = None
    else:
        msg = message_from_columns(topic, payload, qos, retain, props, expires, clocks)
    item = Outgoing(msg, qos, bool(retain), ids_from_text(ids))  # type: ignore[arg-type]
    item.released = bool(released)
    journal.seqs[item] = seq
    if packet_id:
        session.outgoing[packet_id] = item
    elif msg is not None:
        session.queue.append(item)
        session.queued_bytes += len(msg.payload)
