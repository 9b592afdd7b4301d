"""The load generator behind `make bench`: it compiles, and its counts are right against
Debian's Mosquitto on a free port (and wrong counts are caught, against a faulty broker)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fake_broker import duplicating_broker

from bench import loadgen, probe
from bench.brokers import SPECS, RunningBroker, free_port
from bench.run import ensure_running

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """loadgen.c compiled from scratch into a private directory."""
    return loadgen.build(binary=tmp_path_factory.mktemp("loadgen") / "loadgen")


@pytest.fixture(scope="module")
def mosquitto() -> RunningBroker:
    """Debian's Mosquitto on a free loopback port, configured as the benchmark does."""
    reason = SPECS["mosquitto"].unavailable()
    if reason:
        pytest.skip(reason)
    with RunningBroker(SPECS["mosquitto"]) as broker:
        yield broker


def numbers(result: loadgen.LoadResult, *keys: str) -> tuple[int, ...]:
    return tuple(int(result.fields[k]) for k in keys)


# Mosquitto 2.0.11 loses QoS 2 messages when a publisher keeps more in flight than its
# max_inflight_messages (20), so the QoS 2 case keeps 4 per publisher in flight.
@pytest.mark.parametrize("qos,window", [(0, 64), (1, 64), (2, 4)])
def test_fan_in_delivers_every_message_once(binary: Path, mosquitto: RunningBroker,
                                            qos: int, window: int) -> None:
    res = loadgen.run(mosquitto.port, ["-P", "3", "-S", "2", "-n", "200", "-q", str(qos),
                                       "-w", str(window), "-T", "60"], binary=binary)
    assert res.complete, res.describe_failure()
    assert numbers(res, "sent", "expected", "received", "dup", "gap") == (600, 1200, 1200, 0, 0)
    assert float(res.fields["rate"]) > 0


def test_packets_split_across_reads_are_reassembled(binary: Path,
                                                    mosquitto: RunningBroker) -> None:
    # 5000-byte payloads: PUBLISH packets straddle the boundaries of the 256 KB reads.
    res = loadgen.run(mosquitto.port, ["-P", "4", "-S", "2", "-n", "300", "-s", "5000", "-q", "1",
                                       "-T", "60"], binary=binary)
    assert res.complete, res.describe_failure()
    assert numbers(res, "payload", "received", "dup", "gap") == (5000, 2400, 0, 0)


def test_time_bound_and_wildcard_filter(binary: Path, mosquitto: RunningBroker) -> None:
    res = loadgen.run(mosquitto.port, ["-P", "20", "-S", "1", "-n", "1000000000", "-d", "0.3",
                                       "-t", "smoke", "-f", "smoke/+", "-T", "60"],
                      binary=binary)
    assert res.complete, res.describe_failure()
    sent, received = numbers(res, "sent", "received")
    assert 0 < sent == received < 1000000000


def test_paced_publishers_report_latency(binary: Path, mosquitto: RunningBroker) -> None:
    res = loadgen.run(mosquitto.port, ["-P", "2", "-S", "1", "-q", "1", "-r", "50", "-n", "10",
                                       "-T", "60"], binary=binary)
    assert res.complete, res.describe_failure()
    assert numbers(res, "received") == (20,)
    assert 0 <= res.number("p50_ms") <= res.number("p99_ms") <= res.number("max_ms")


def test_retained_storm_counts_only_its_topics(binary: Path, mosquitto: RunningBroker) -> None:
    # A retained message outside the storm's prefix must not be counted.
    assert loadgen.run(mosquitto.port, ["-m", "retained", "-n", "1", "-t", "other", "-T", "60"],
                       binary=binary).complete
    res = loadgen.run(mosquitto.port, ["-m", "retained", "-n", "300", "-R", "3", "-t", "storm",
                                       "-T", "60"], binary=binary)
    assert res.complete, res.describe_failure()
    assert numbers(res, "count", "received", "repeats") == (300, 300, 3)
    assert res.number("min_secs") <= res.number("secs") <= res.number("max_secs")


def test_idle_clients_stay_connected(binary: Path, mosquitto: RunningBroker) -> None:
    with loadgen.IdleClients(mosquitto.port, 50, binary=binary) as idle:
        assert idle.connect_secs >= 0
    assert idle.closed == 0
    assert idle.proc is not None and idle.proc.returncode == 0


def test_duplicated_deliveries_make_the_run_incomplete(binary: Path) -> None:
    with duplicating_broker() as port:
        res = loadgen.run(port, ["-P", "2", "-S", "1", "-n", "50", "-q", "0", "-T", "5"],
                          binary=binary)
    assert not res.complete
    assert res.fields["dup"] != "0"
    assert "dup" in res.describe_failure()


def test_refused_connection_is_an_error(binary: Path) -> None:
    port = free_port()
    res = loadgen.run(port, ["-P", "1", "-S", "1", "-n", "1"], binary=binary)
    assert res.returncode == 2
    assert "refused" in res.describe_failure()


def test_runner_restarts_a_broker_that_exited() -> None:
    if SPECS["mosquitto"].unavailable():
        pytest.skip("mosquitto not installed")
    notes: list[str] = []
    with RunningBroker(SPECS["mosquitto"]) as broker:
        broker.proc.kill()  # type: ignore[union-attr]
        broker.proc.wait()  # type: ignore[union-attr]
        assert ensure_running(broker, "round 1, fanin_q0", notes)
        assert broker.alive() and probe.handshake(broker.port)
    assert not broker.alive()
    assert notes and "exited" in notes[0]


def test_aedes_runs_the_workloads_and_gets_a_column(binary: Path) -> None:
    """`make bench` measures aedes 1.x from npm beside Mosquitto and amqtt: it starts from
    the tests' pinned install, a workload completes against it, the table shows our ratio."""
    from bench.report import render
    from bench.workloads import figures

    reason = SPECS["aedes"].unavailable()
    assert reason is None, reason
    with RunningBroker(SPECS["aedes"]) as aedes:
        assert aedes.start_secs < 30
        res = loadgen.run(aedes.port, ["-P", "3", "-S", "2", "-n", "200", "-q", "1",
                                       "-w", "16", "-T", "60"], binary=binary)
    assert res.complete, res.describe_failure()
    assert numbers(res, "sent", "expected", "received", "dup", "gap") == (600, 1200, 1200, 0, 0)
    rate = float(res.fields["rate"])
    medians = {"ours": {"fanin_q1": rate * 3}, "aedes": {"fanin_q1": rate}}
    complete = {"ours": {"fanin_q1": True}, "aedes": {"fanin_q1": True}}
    table = render([f for f in figures() if f.key == "fanin_q1"], ["ours", "aedes"], medians,
                   complete, with_targets=False)
    assert "ours/aedes" in table and "3.00x" in table
