"""The message workloads of issue 3 as load-generator runs, and the figures each one yields.

Throughput runs are bounded by time (-d: publishers stop starting new messages after that
many seconds) rather than by count, so that amqtt's run takes about as long as Mosquitto's;
the rate is delivered messages over first publish to last delivery, and every message that
was sent must arrive for the run to count.
"""

from __future__ import annotations

from dataclasses import dataclass

# Large enough that only the time bound ends a throughput run, on any broker here.
UNBOUNDED = "1000000000"


@dataclass(frozen=True)
class Figure:
    """One row of the table that a workload's report fills."""

    key: str
    label: str
    unit: str
    field: str                 # key in the load generator's report line
    higher_is_better: bool


@dataclass(frozen=True)
class Workload:
    """A load-generator invocation (full and quick variants) and the figures it yields.

    The argument templates may contain ``{prefix}``, replaced by a topic prefix unique to
    the run, so that no run sees another's messages.
    """

    name: str
    full: str
    quick: str
    figures: tuple[Figure, ...]

    def args(self, quick: bool, prefix: str) -> list[str]:
        """The load generator's arguments for this run."""
        return (self.quick if quick else self.full).format(prefix=prefix).split()


def _rate(key: str, label: str) -> tuple[Figure, ...]:
    return (Figure(key, label, "msg/s", "rate", True),)


def _throughput(name: str, shape: str, label: str) -> Workload:
    common = f"{shape} -n {UNBOUNDED} -t {{prefix}} -T 5"
    return Workload(name, f"{common} -d 2", f"{common} -d 0.5", _rate(name, label))


WORKLOADS: tuple[Workload, ...] = (
    _throughput("fanin_q0", "-P 10 -S 1 -q 0", "fan-in QoS 0, 10 -> 1"),
    _throughput("fanin_q1", "-P 10 -S 1 -q 1", "fan-in QoS 1, 10 -> 1"),
    _throughput("fanin_q2", "-P 10 -S 1 -q 2", "fan-in QoS 2, 10 -> 1"),
    _throughput("fanout_q0", "-P 1 -S 10 -q 0", "fan-out QoS 0, 1 -> 10"),
    _throughput("many_pubs", "-P 1000 -S 1 -q 0 -f {prefix}/+",
                "1000 publishers -> 1 wildcard sub"),
    Workload(
        "latency_q1",
        "-P 10 -S 1 -q 1 -r 100 -n 500 -t {prefix} -T 10",
        "-P 10 -S 1 -q 1 -r 100 -n 150 -t {prefix} -T 10",
        (Figure("latency_p50", "latency p50, 1000 msg/s QoS 1", "ms", "p50_ms", False),
         Figure("latency_p99", "latency p99, 1000 msg/s QoS 1", "ms", "p99_ms", False)),
    ),
    # The same topics every round, so a broker's retained store holds 10k topics, not 30k;
    # three fresh subscribers one after another, the median of their times.
    Workload(
        "retained",
        "-m retained -n 10000 -R 3 -t storm -T 10",
        "-m retained -n 2000 -R 3 -t storm -T 10",
        (Figure("retained_s", "retained storm: # gets all", "s", "secs", False),),
    ),
)


def figures() -> list[Figure]:
    """Every figure of every workload, in table order."""
    return [f for w in WORKLOADS for f in w.figures]
