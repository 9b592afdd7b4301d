"""A damaged or truncated store: the broker starts anyway, keeps what it can read."""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import NamedTuple

import pytest

from .procs import OurBroker, Publisher, Recorder, free_port, register, wait_until

QUEUED = 300
RETAINED = 60
DAMAGED_LINE = "was damaged"


def _fill(tmp: Path, crash: bool) -> Path:
    """A store with a persistent session, its queued messages and retained messages.

    ``crash``: the broker is killed (everything still in the WAL), else stopped cleanly
    (everything folded into broker.db).
    """
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    broker = OurBroker(port, tmp / "broker.log", ["--data-dir", str(tmp / "data")])
    broker.start()
    try:
        register(port, "keeper", "queue/#", 1)
        pub = Publisher(port, "pub", clean=True).start()
        for i in range(RETAINED):
            pub.publish(f"home/room{i}/temperature", b"%d" % i, 1, retain=True)
        for i in range(QUEUED):
            pub.publish("queue/x", b"%d" % i + b"." * 200, 1)
        wait_until(pub.all_acked, what="acks")
        pub.stop()
    finally:
        if crash:
            broker.kill9()
        broker.stop()
    return tmp / "data" / "broker.db"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _fill(tmp_path_factory.mktemp("pristine"), crash=False)


def _start_on(tmp_path: Path, db: Path) -> tuple[OurBroker, Recorder]:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    shutil.copy(db, data / "broker.db")
    wal = Path(str(db) + "-wal")
    if wal.exists():
        shutil.copy(wal, data / "broker.db-wal")
    port = free_port()
    broker = OurBroker(port, tmp_path / "broker.log", ["--data-dir", str(data)])
    broker.start()
    return broker, Recorder(port, "keeper").start()


class Restart(NamedTuple):
    damaged: bool  # the broker reported the store damaged and moved it aside
    kept: list[bytes]  # the queued payloads the resumed session got, in order
    retained: int  # retained messages kept


def _check_restart(tmp_path: Path, db: Path) -> Restart:
    """Start on ``db``; check what survives is sane, and say what it was."""
    broker, sub = _start_on(tmp_path, db)
    try:
        # The broker still works (the subscription may have been among the losses). A live
        # message queues behind what the resumed session kept, so once it is in, all is.
        sub.subscribe("queue/#", 1)
        pub = Publisher(broker.port, "pub2", clean=True).start()
        pub.publish("queue/x", b"999", 1)
        wait_until(lambda: b"999" in sub.payloads(), what="live message after recovery")
        *kept, live = [p.rstrip(b".") for p in sub.payloads()]
        assert live == b"999"
        # Whatever was kept arrives in the order it was queued, and nothing else.
        assert kept == sorted(kept, key=int)
        assert set(kept) <= {b"%d" % i for i in range(QUEUED)}
        # Retained messages go out with the SUBACK, ahead of a live message.
        probe = Recorder(broker.port, "probe", clean=True).start()
        probe.subscribe("home/#", 0)
        pub.publish("home/zz/marker", b"end", 1)
        wait_until(lambda: b"end" in probe.payloads(), what="marker behind retained")
        retained = probe.payloads()[:-1]
        assert len(retained) <= RETAINED
        probe.stop()
        pub.stop()
    finally:
        sub.stop()
        broker.stop()
    lines = [line for line in broker.log().splitlines() if DAMAGED_LINE in line]
    assert len(lines) <= 1, lines
    aside = list((tmp_path / "data").glob("broker.db.damaged-*"))
    assert bool(lines) == bool(aside)
    return Restart(bool(lines), kept, len(retained))


def test_intact_store_restores_everything(tmp_path: Path, pristine: Path) -> None:
    broker, sub = _start_on(tmp_path, pristine)
    try:
        wait_until(lambda: len(sub.payloads()) >= QUEUED, what="queued messages")
        assert [p.rstrip(b".") for p in sub.payloads()] == [b"%d" % i for i in range(QUEUED)]
        probe = Recorder(broker.port, "probe", clean=True).start()
        probe.subscribe("home/#", 0)
        wait_until(lambda: len(probe.payloads()) == RETAINED, what="retained messages")
        probe.stop()
    finally:
        sub.stop()
        broker.stop()
    assert DAMAGED_LINE not in broker.log()


def test_truncated_store_at_random_offsets(tmp_path: Path, pristine: Path) -> None:
    size = pristine.stat().st_size
    rng = random.Random(4)
    damaged = 0
    # The header's first 100 bytes, and random cuts through the pages after it.
    offsets = [50] + sorted(rng.randrange(4096, size) for _ in range(4))
    for n, offset in enumerate(offsets):
        case = tmp_path / f"cut{n}"
        case.mkdir()
        cut = case / "cut.db"
        shutil.copy(pristine, cut)
        with open(cut, "r+b") as f:
            f.truncate(offset)
        damaged += _check_restart(case, cut).damaged
    assert damaged >= 1  # at least the cut through the header must be noticed


def test_garbage_file_is_moved_aside(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(random.Random(1).randbytes(20_000))
    assert _check_restart(tmp_path, junk).damaged


def test_truncated_wal_after_a_crash(tmp_path: Path) -> None:
    """kill -9 leaves the latest commits in the WAL; a cut WAL rolls back to an older state."""
    db = _fill(tmp_path / "crashed", crash=True)
    wal = Path(str(db) + "-wal")
    size = wal.stat().st_size
    rng = random.Random(9)
    for n, offset in enumerate(sorted(rng.randrange(size // 4, size) for _ in range(2))):
        case = tmp_path / f"wal{n}"
        case.mkdir()
        shutil.copy(db, case / "cut.db")
        shutil.copy(wal, case / "cut.db-wal")
        with open(case / "cut.db-wal", "r+b") as f:
            f.truncate(offset)
        restart = _check_restart(case, case / "cut.db")
        # An older state: every retained message (stored first) and a prefix of the queue.
        assert restart.retained == RETAINED
        assert restart.kept == [b"%d" % i for i in range(len(restart.kept))]
        assert restart.kept, "the commits ahead of the cut were lost"
