"""A real broker run recorded for power-cut replay, and the check of one cut's state.

The run: ``python -m broker --data-dir`` under the write recorder, a persistent subscriber
that stays offline (everything queues on disk for it), one that stays online and
acknowledges, a paho 3.1.1 publisher (QoS 1, some retained) and a paho 5.0 publisher
(QoS 2), and the broker killed (-9) and stopped (SIGTERM) once each midway, so the log
holds startup recovery, checkpoints and a clean shutdown too. Every acknowledgement a
publisher receives is stamped with how far the write log had grown at that moment.

The check of a cut: the real broker starts on the files the cut left, both subscribers
reconnect and a fresh client asks for the retained messages. Every message acknowledged
before the cut must reach the offline subscriber, and the online one unless it had it
before the cut; a retained topic must hold its last acknowledged value or a later one;
every payload must be whole (each carries its own digest) and QoS 2 ones must come once.
"""

from __future__ import annotations

import hashlib
import pickle
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from support import writelog

from .procs import OurBroker, Publisher, Recorder, free_port, register, wait_until

SUB_FILTER = "pc/#"
SENTINEL = "pc/end"
CHECK_TIMEOUT = 60.0


def make_payload(kind: str, n: int, rng: random.Random) -> bytes:
    """``kind|n|filler|digest``: a payload that shows whether it arrived whole."""
    body = b"%s|%06d|%s" % (kind.encode(), n, rng.randbytes(rng.randint(8, 1500)).hex().encode())
    return body + b"|" + hashlib.sha256(body).hexdigest()[:16].encode()


def parse_payload(payload: bytes) -> tuple[str, int] | None:
    """(kind, n) of a whole payload, None for a torn or foreign one."""
    body, _, digest = payload.rpartition(b"|")
    if hashlib.sha256(body).hexdigest()[:16].encode() != digest:
        return None
    kind, n, _ = body.split(b"|", 2)
    return kind.decode(), int(n)


class RecordingBroker(OurBroker):
    """``python -m broker`` with the write recorder preloaded."""

    def __init__(self, port: int, log_path: Path, args: list[str], env: dict[str, str]) -> None:
        super().__init__(port, log_path, args)
        self.env = env

    def command(self) -> list[str]:
        return ["env", *(f"{k}={v}" for k, v in self.env.items()), *super().command()]


class Stamped(Recorder):
    """A subscriber that notes how far the write log was when each message arrived."""

    def __init__(self, port: int, client_id: str, log: Path | None = None, clean: bool = False) -> None:
        super().__init__(port, client_id, clean=clean)
        self.log = log
        self.connects = 0
        self.first_seen: dict[bytes, int] = {}
        self.session_present: bool | None = None
        self.client.on_connect = self._on_connect

    def _on_connect(self, client, userdata, flags, *rest) -> None:  # noqa: ANN001
        self.session_present = bool(flags.session_present)
        self.connected.set()
        self.connects += 1

    def _on_message(self, client, userdata, msg) -> None:  # noqa: ANN001
        at = writelog.position(self.log) if self.log is not None else 0
        with self.lock:
            self.received.append((msg.topic, msg.payload, msg.qos))
            self.first_seen.setdefault(msg.payload, at)


class StampedPublisher(Publisher):
    """A publisher that notes how far the write log was when each acknowledgement came."""

    def __init__(self, port: int, client_id: str, log: Path, version: int = 4) -> None:
        super().__init__(port, client_id, clean=False, version=version)
        self.log = log
        self.acks: list[tuple[int, int]] = []  # (mid, log position)
        self.topics: dict[bytes, str] = {}
        self.connects = 0
        self.client.on_publish = self._on_publish
        self.client.on_connect = self._on_connect

    def _on_connect(self, *args: object) -> None:
        self.connected.set()
        self.connects += 1

    def _on_publish(self, client, userdata, mid, *rest) -> None:  # noqa: ANN001
        self.acks.append((mid, writelog.position(self.log)))

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool = False) -> None:
        self.topics[payload] = topic
        super().publish(topic, payload, qos, retain)

    def ack_positions(self) -> dict[bytes, int]:
        """Payload -> log position of its PUBACK/PUBCOMP (mids do not wrap in a run)."""
        by_mid = {info.mid: payload for payload, info in self.sent}
        if len(by_mid) != len(self.sent) or len(self.acks) != len(self.sent):
            raise AssertionError("packet ids reused or acknowledgements missing: the run "
                                 "cannot tell which acknowledgement was whose")
        return {by_mid[mid]: at for mid, at in self.acks}


@dataclass
class BrokerRun:
    """What the checks need from the recorded run."""

    log: Path
    acked: dict[bytes, int]  # payload -> log position of its acknowledgement
    topics: dict[bytes, str]  # payload -> topic it was published to
    retained: dict[str, list[tuple[int, bytes]]]  # topic -> (ack position, payload), in order
    online_seen: dict[bytes, int]  # payload -> log position when the online subscriber got it
    sessions_at: int  # log position once both persistent sessions were subscribed
    published: int = 0
    restarts: list[str] = field(default_factory=list)

    def save(self, path: Path) -> None:
        """Kept beside the log, for a post-mortem of a failed cut."""
        path.write_bytes(pickle.dumps(self))

    @staticmethod
    def load(path: Path) -> BrokerRun:
        return pickle.loads(path.read_bytes())


def record_run(workdir: Path, lib: Path, messages: int, seed: int, lie: bool = False) -> BrokerRun:
    """Run the broker under the recorder with ``messages`` publishes; return what happened."""
    rng = random.Random(seed)
    data = workdir / "data"
    data.mkdir(parents=True)
    log = workdir / "writes.log"
    env = writelog.environment(lib, data, log, lie=lie)
    port = free_port()
    broker = RecordingBroker(port, workdir / "broker-recorded.log",
                             ["--data-dir", str(data)], env)
    broker.start()
    pubs: list[StampedPublisher] = []
    online = None
    try:
        register(port, "pc-offline", SUB_FILTER, 2)
        online = Stamped(port, "pc-online", log).start()
        online.subscribe(SUB_FILTER, 1)
        sessions_at = writelog.position(log)
        pub1 = StampedPublisher(port, "pc-pub311", log, version=4).start()
        pub2 = StampedPublisher(port, "pc-pub5", log, version=5).start()
        pubs = [pub1, pub2]
        retained_order: dict[str, list[bytes]] = {}
        restarts = {messages // 3: "kill -9", (2 * messages) // 3: "SIGTERM"}
        done_restarts: list[str] = []
        for n in range(messages):
            if n in restarts:
                # Nothing in flight and everyone back before publishing on: paho gives
                # messages queued while disconnected new packet ids, which would muddle
                # which acknowledgement was whose.
                wait_until(lambda: all(p.all_acked() for p in pubs), what="acks before restart")
                before = [c.connects for c in (*pubs, online)]
                (broker.kill9 if restarts[n] == "kill -9" else broker.stop)()
                broker.start()
                wait_until(lambda b=before: all(c.connects > k for c, k in
                                                zip((*pubs, online), b, strict=True)),
                           what="clients reconnected")
                done_restarts.append(restarts[n])
            pick = rng.random()
            if pick < 0.15:
                topic = f"pc/r/{n % 3}"
                payload = make_payload("r", n, rng)
                retained_order.setdefault(topic, []).append(payload)
                pub1.publish(topic, payload, 1, retain=True)
            elif pick < 0.6:
                pub1.publish(f"pc/a/{n % 5}", make_payload("a", n, rng), 1)
            else:
                pub2.publish(f"pc/b/{n % 5}", make_payload("b", n, rng), 2)
            if n % 8 == 7:
                time.sleep(0.02)  # a stream over many commits, not one burst
        wait_until(lambda: all(p.all_acked() for p in pubs), what="every publish acknowledged")
        acked: dict[bytes, int] = {}
        topics: dict[bytes, str] = {}
        for p in pubs:
            acked.update(p.ack_positions())
            topics.update(p.topics)
        wait_until(lambda: set(acked) <= set(online.payloads()), what="online subscriber fed")
        # The order the broker took them in: one connection's acknowledgements come in
        # the order its messages arrived (a stable sort keeps ties in publish order).
        retained = {
            t: sorted(((acked[p], p) for p in order), key=lambda e: e[0])
            for t, order in retained_order.items()
        }
        run = BrokerRun(log, acked, topics, retained, dict(online.first_seen), sessions_at,
                        messages, done_restarts)
        run.save(workdir / "run.pickle")
        return run
    finally:
        for p in pubs:
            p.stop()
        if online is not None:
            online.stop()
        broker.kill9()  # power fails while it runs: the log ends mid-life, not closed


@dataclass
class Observation:
    """What a broker started on one state delivered."""

    offline: list[bytes]
    online: list[bytes]
    retained: dict[str, bytes]
    #: (topic, payload) of every message, to see that each came on its own topic
    pairs: list[tuple[str, bytes]]
    sessions: tuple[bool, bool]
    damaged: str | None


def observe(data: Path, workdir: Path) -> Observation:
    """Start the real broker on ``data`` and collect what it delivers."""
    port = free_port()
    log_path = workdir / "broker.log"
    broker = OurBroker(port, log_path, ["--data-dir", str(data)])
    broker.start()
    clients: list[Recorder] = []
    try:
        offline = Stamped(port, "pc-offline").start()
        online = Stamped(port, "pc-online").start()
        clients += [offline, online]
        for sub in (offline, online):
            if not sub.session_present:
                sub.subscribe(SUB_FILTER, 1)  # so the sentinel arrives; the loss is reported
        fresh = Stamped(port, f"pc-check-{port}", clean=True).start()
        clients.append(fresh)
        fresh.subscribe("pc/r/#", 1)
        fresh.subscribe(SENTINEL, 1)
        sentinel = Publisher(port, f"pc-sentinel-{port}", clean=True).start()
        clients.append(sentinel)
        sentinel.publish(SENTINEL, b"end", 2)
        # Queues are delivered in order: once the sentinel is in, everything before it is.
        # (QoS 2 like the slowest: paho hands a QoS 2 message over at its PUBREL.)
        for sub in (offline, online, fresh):
            wait_until(lambda s=sub: b"end" in s.payloads(), CHECK_TIMEOUT, "the sentinel")
        retained = {t: p for t, p, _ in fresh.received if t != SENTINEL}
        damaged = next((line for line in broker.log().splitlines() if "was damaged" in line), None)
        pairs = [(t, p) for c in (offline, online, fresh) for t, p, _ in c.received
                 if t != SENTINEL]
        return Observation(
            [p for p in offline.payloads() if p != b"end"],
            [p for p in online.payloads() if p != b"end"],
            retained,
            pairs,
            (bool(offline.session_present), bool(online.session_present)),
            damaged,
        )
    finally:
        for c in clients:
            try:
                c.stop()
            except Exception:  # a client of a broker about to be killed
                pass
        broker.kill9()


def problems(run: BrokerRun, position: int, seen: Observation) -> list[str]:
    """Everything that broke a promise, for a power cut at log position ``position``."""
    out: list[str] = []
    if seen.damaged:
        out.append(f"store damaged: {seen.damaged}")
    if position >= run.sessions_at and not all(seen.sessions):
        out.append(f"persistent session lost (offline, online present: {seen.sessions})")
    must = {p for p, at in run.acked.items() if at <= position}
    for topic, p in seen.pairs:
        if parse_payload(p) is None or run.topics.get(p) != topic:
            out.append(f"torn or misplaced message on {topic}: {p[:40]!r}...")
    missing = must - set(seen.offline)
    if missing:
        out.append(f"{len(missing)} acknowledged messages lost for the offline subscriber, "
                   f"e.g. {_names(missing)}")
    had = {p for p, at in run.online_seen.items() if at <= position}
    missing = must - set(seen.online) - had
    if missing:
        out.append(f"{len(missing)} acknowledged messages lost for the online subscriber, "
                   f"e.g. {_names(missing)}")
    twice = sorted({p for p in seen.offline if p.startswith(b"b|") and seen.offline.count(p) > 1})
    if twice:
        out.append(f"QoS 2 messages delivered twice: {_names(twice)}")
    for topic, history in run.retained.items():
        acked_ns = [i for i, (at, _) in enumerate(history) if at <= position]
        if not acked_ns:
            continue
        got = seen.retained.get(topic)
        order = [p for _, p in history]
        if got is None or got not in order or order.index(got) < acked_ns[-1]:
            out.append(f"retained {topic} went back: {got[:12] if got else None!r} after "
                       f"{order[acked_ns[-1]][:12]!r} was acknowledged")
    return out


def _names(payloads: set[bytes] | list[bytes]) -> str:
    return ", ".join(sorted(p.split(b"|")[0].decode() + p.split(b"|")[1].decode()
                            for p in payloads)[:5])

