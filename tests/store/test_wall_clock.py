"""A Pi has no real-time clock: across a restart its wall clock may have gone back (to the
last saved time) or jumped forward (NTP). Whatever it did, nothing the store kept may come
back with more time to live than it had.

The broker runs as a real process whose wall clock (``time.time``) is shifted from the
start; its monotonic clock, like the Pi's, just runs. Real paho 5.0 clients publish and
read the Message Expiry Interval.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from support.sansio import FakeClock, offline_with_will

from broker.engine.engine import Engine
from broker.store import sqlite as sql
from broker.store.journal import Journal
from broker.store.loader import restore
from broker.store.records import Clocks
from broker.store.sqlite import SqliteFile

from .procs import TIMEOUT, OurBroker, Publisher, Recorder, free_port, wait_until

DAY = 86400
INTERVAL = 3600

# Runs ``python -m broker`` with time.time() moved by argv[1] seconds.
_SHIFTED = (
    "import runpy, sys, time\n"
    "shift = float(sys.argv.pop(1))\n"
    "wall = time.time\n"
    "time.time = lambda: wall() + shift\n"
    "runpy.run_module('broker', run_name='__main__', alter_sys=True)\n"
)


class ShiftedBroker(OurBroker):
    """Our broker with its wall clock ``shift`` seconds off (changed between starts)."""

    shift = 0.0

    def command(self) -> list[str]:
        python, _, _, *args = super().command()
        return [python, "-c", _SHIFTED, str(self.shift), *args]


class ExpiryRecorder(Recorder):
    """Records each message's Message Expiry Interval (None without one)."""

    def __init__(self, port: int, client_id: str, clean: bool) -> None:
        super().__init__(port, client_id, clean, version=5)
        self.expiry: dict[str, int | None] = {}
        self.client.on_message = self._on_expiring

    def _on_expiring(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.expiry[msg.topic] = getattr(msg.properties, "MessageExpiryInterval", None)
        self._on_message(client, userdata, msg)


def _publish_expiring(pub: Publisher, topic: str, retain: bool) -> None:
    props = Properties(PacketTypes.PUBLISH)
    props.MessageExpiryInterval = INTERVAL
    info = pub.client.publish(topic, b"x", 1, retain, properties=props)
    info.wait_for_publish(TIMEOUT)


@pytest.mark.parametrize("shift", [-DAY, 1800], ids=["back-a-day", "forward-half-hour"])
def test_stored_expiry_never_grows_across_a_restart(tmp_path: Path, shift: float) -> None:
    port = free_port()
    broker = ShiftedBroker(port, tmp_path / "broker.log", ["--data-dir", str(tmp_path / "data")])
    broker.start()
    clients: list[Recorder] = []
    try:
        phone = ExpiryRecorder(port, "phone", clean=False).start()
        phone.subscribe("home/#", 1)
        phone.stop()  # offline: what follows is queued for it, in the store
        pub = Publisher(port, "pub", clean=True, version=5).start()
        clients.append(pub)
        _publish_expiring(pub, "home/door", retain=True)
        _publish_expiring(pub, "home/alert", retain=False)
        pub.stop()
        clients = []
        broker.stop()

        broker.shift = shift
        broker.start()
        phone = ExpiryRecorder(port, "phone", clean=False).start()  # its queued message
        viewer = ExpiryRecorder(port, "viewer", clean=True).start()  # the retained one
        clients += [phone, viewer]
        viewer.subscribe("home/door", 1)
        wait_until(lambda: "home/alert" in phone.expiry, what="queued message")
        wait_until(lambda: "home/door" in viewer.expiry, what="retained message")
        left = {"queued": phone.expiry["home/alert"], "retained": viewer.expiry["home/door"]}
        most = INTERVAL if shift < 0 else INTERVAL - shift
        for what, seconds in left.items():
            assert seconds is not None and 0 < seconds <= most, f"{what}: {seconds} s left"
    except BaseException:
        print(broker.log(), file=sys.stderr)
        raise
    finally:
        for client in clients:
            client.stop()
        broker.stop()


def test_session_expiry_and_will_delay_never_grow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A persistent session gone offline and its delayed will, written, then read back
    after the wall clock went back a day: no longer to wait than when written."""
    clock = FakeClock()
    engine = Engine(clock=clock)
    engine.store = journal = Journal(Clocks(clock))
    offline_with_will(engine, "node", expiry=600, will_delay=120)
    db = SqliteFile(tmp_path / "broker.db")
    db.apply(journal.take())
    snap = db.read()
    db.close()

    wall = time.time() - DAY
    monkeypatch.setattr(time, "time", lambda: wall)
    clock = FakeClock(5000.0)
    restored = Engine(clock=clock)
    clocks = Clocks(clock)
    journal = Journal(clocks)
    restore(restored, snap, journal, clocks)
    session = restored.sessions["node"]
    assert session.expires_at is not None and 0 < session.expires_at - clock.now <= 600
    assert session.will_at is not None and 0 < session.will_at - clock.now <= 120
    # ...and written again on the wall clock as it now is.
    assert [st for st, rows in journal.take() if rows] == [sql.UPSERT_SESSION]


def test_a_capped_retained_message_is_written_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the clock went back, the capped expiry is written on the new wall clock: a
    second restart an hour of wall time later finds the message expired, not given its
    hour again."""
    db = SqliteFile(tmp_path / "broker.db")
    wall = [time.time()]
    monkeypatch.setattr(time, "time", lambda: wall[0])

    def restart() -> Engine:
        engine = Engine(clock=FakeClock())
        clocks = Clocks(engine.clock)
        journal = Journal(clocks)
        restore(engine, db.read(), journal, clocks)
        db.apply(journal.take())
        return engine

    engine = restart()
    engine.store = journal = Journal(Clocks(engine.clock))
    engine.publish("home/door", "open", retain=True, properties={"message_expiry_interval": 600})
    db.apply(journal.take())
    wall[0] -= DAY  # the Pi reboots with its clock a day behind
    assert restart().retained.get("home/door") is not None
    wall[0] += 601  # ten minutes of wall time later, another restart
    assert restart().retained.get("home/door") is None
    db.close()
