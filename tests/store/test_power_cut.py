"""Power cuts, replayed from the recorded writes of real runs (README: Persistence).

A run of the real broker (and of the dashboard's history store) is recorded with its
writes and syncs; the files a power cut would leave are rebuilt at many points of it
(tests/support/crashstates.py says how un-synced writes are torn) and the real code is
started on each. POWERCUT_CUTS and POWERCUT_HISTORY_CUTS set how many cut points (``make powercut`` runs
hundreds of broker starts and thousands of history opens; the defaults keep this file
near a minute).
"""

from __future__ import annotations

import bisect
import collections
import os
import shutil
from pathlib import Path

import pytest
from support import writelog
from support.crashstates import Cut, choose_cuts, digest, states, write_state

from . import powercut_broker as broker_run
from . import powercut_history as history_run

# Reduced counts here; `make powercut` sets the full ones (README: Persistence).
CUTS = int(os.environ.get("POWERCUT_CUTS", "20"))
MESSAGES = int(os.environ.get("POWERCUT_MESSAGES", "240"))
HISTORY_CUTS = int(os.environ.get("POWERCUT_HISTORY_CUTS", "150"))
FLUSHES = int(os.environ.get("POWERCUT_FLUSHES", "300"))
SEED = int(os.environ.get("POWERCUT_SEED", "5"))


@pytest.fixture(scope="module")
def recorder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The LD_PRELOAD write recorder, compiled for this run."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the write recorder")
    return writelog.build(tmp_path_factory.mktemp("writelog"))


def replay_broker(workdir: Path, run: broker_run.BrokerRun, cuts: int, seed: int) -> tuple[list[str], str]:
    """Check the broker at ``cuts`` cut points of ``run``: (problems, summary line)."""
    records = writelog.read_log(run.log)
    chosen = choose_cuts(records, cuts, seed)
    observed: dict[str, broker_run.Observation] = {}
    failures: list[str] = []
    for i, (cut, files) in enumerate(states(records, chosen, workdir / "run" / "data")):
        key = digest(files)
        if key not in observed:
            state = workdir / f"state-{i}"
            write_state(files, state / "data")
            observed[key] = broker_run.observe(state / "data", state)
            shutil.rmtree(state)
        failures += [f"{cut}: {p}" for p in broker_run.problems(run, cut.position, observed[key])]
    modes = collections.Counter(c.mode for c in chosen)
    must = [sum(1 for at in run.acked.values() if at <= c.position) for c in chosen]
    summary = (
        f"broker: {len(chosen)} cut points ({dict(modes)}) over {len(records)} logged writes "
        f"and syncs of {run.published} publishes, restarts {run.restarts}; "
        f"{len(observed)} distinct disk states started; up to {max(must, default=0)} "
        f"acknowledged messages checked per cut; {len(failures)} problems"
    )
    return failures, summary


def test_broker_keeps_every_acknowledged_message_through_power_cuts(
    tmp_path: Path, recorder: Path
) -> None:
    run = broker_run.record_run(tmp_path / "run", recorder, MESSAGES, SEED)
    failures, summary = replay_broker(tmp_path, run, CUTS, SEED)
    print(summary)
    assert not failures, "\n".join(failures[:20])


def test_harness_notices_a_disk_that_lies_about_fsync(tmp_path: Path, recorder: Path) -> None:
    """The same check on a run whose syncs never reach the log (a disk that acknowledges
    fsync and keeps the data in its cache) must report acknowledged messages lost: the
    check can fail."""
    run = broker_run.record_run(tmp_path / "run", recorder, 40, SEED, lie=True)
    records = writelog.read_log(run.log)
    last_ack = max(run.acked.values())
    at = next(i + 1 for i, r in enumerate(records) if r.end >= last_ack)
    lost = Cut(at, "lost", SEED, records[at - 1].end)
    (_, files), = states(records, [lost], tmp_path / "run" / "data")
    write_state(files, tmp_path / "state" / "data")
    seen = broker_run.observe(tmp_path / "state" / "data", tmp_path / "state")
    found = broker_run.problems(run, lost.position, seen)
    assert any("acknowledged messages lost" in p for p in found), found


def test_history_keeps_every_synced_sample_through_power_cuts(tmp_path: Path, recorder: Path) -> None:
    run = history_run.record_run(tmp_path / "run", recorder, FLUSHES, SEED)
    records = writelog.read_log(run.log)
    chosen = choose_cuts(records, HISTORY_CUTS, SEED)
    failures: list[str] = []
    for i, (cut, files) in enumerate(states(records, chosen, run.data)):
        state = tmp_path / f"state-{i}"
        write_state(files, state)
        failures += [f"{cut}: {p}" for p in history_run.problems(run, cut.position, state)]
        shutil.rmtree(state)
    modes = collections.Counter(c.mode for c in chosen)
    must = max((len(history_run.required(run, c.position)) for c in chosen), default=0)
    doubt = collections.Counter(bisect.bisect(run.sync_positions, at) for at, _ in run.flushes)
    print(f"history: {len(chosen)} cut points ({dict(modes)}) over {len(records)} logged "
          f"writes and {len(run.sync_positions)} syncs of {FLUSHES} flushes; up to {must} "
          f"synced samples checked per cut; up to {max(doubt.values())} flushes between "
          f"two syncs; {len(failures)} problems")
    assert not failures, "\n".join(failures[:20])
