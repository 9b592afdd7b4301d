"""QoS 1 throughput with the broker's store off, full and low-wear; bytes written per 1000.

    python -m bench.persistence [--messages N] [--publishers P] [--json FILE]

Each mode runs a fresh broker in a subprocess (this module with ``--serve``), on uvloop when
installed, with one persistent QoS 1 subscriber (clean session off, so every message is a
store write in the full mode) and P publishers keeping 20 QoS 1 messages in flight each.
Throughput counts from the first PUBLISH to the subscriber's last message. "Bytes written"
is what the store's writer thread handed to the kernel (its /proc wchar counter): WAL
frames, checkpoints and headers, i.e. the writes that wear an SD card.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from broker.bridge.client import ClientOptions, MQTTClient
from broker.protocol.packets import SubscriptionOptions

MODES = ("off", "full", "low-wear")
SOURCES = ("network", "in-process")
TOPIC = "bench/persist"
CONTROL = "bench/control"
PAYLOAD = b"x" * 64


# --- the broker side (a subprocess) ---------------------------------------------------------


async def _serve(port: int, data_dir: str, mode: str) -> None:
    from broker import Broker, BrokerConfig

    config = BrokerConfig(
        host="127.0.0.1",
        port=port,
        sys_interval=0,
        data_dir="" if mode == "off" else data_dir,
        persistence="full" if mode == "off" else mode,
        max_queued_messages=1_000_000,
    )
    broker = Broker(config)
    await broker.start()
    loop = asyncio.get_running_loop()

    async def publish_locally(n: int) -> None:
        # A driver publishing in-process: no PUBACK waits on the store.
        for i in range(n):
            broker.publish(TOPIC, PAYLOAD, qos=1)
            if i % 50 == 49:
                await asyncio.sleep(0.001)

    broker.subscribe(CONTROL, lambda m: loop.create_task(publish_locally(int(m.payload))))
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    p = broker.persistence
    report = {
        "bytes_written": p.bytes_written() if p is not None else 0,
        "commits": p.commit.commits if p is not None else 0,
    }
    await broker.stop()
    print(json.dumps(report), flush=True)


# --- the load side --------------------------------------------------------------------------


async def _load(port: int, messages: int, publishers: int, source: str) -> float:
    """Publish ``messages`` QoS 1 messages; seconds until the subscriber has them all.

    ``source`` "network": ``publishers`` MQTT clients publish; "in-process": the broker's
    own process publishes (as the gateway's drivers do), asked to by a control message.
    """
    got = 0
    all_in = asyncio.Event()

    def on_message(p, ack) -> None:  # noqa: ANN001
        nonlocal got
        ack()
        got += 1
        if got >= messages:
            all_in.set()

    sub = MQTTClient(
        ClientOptions("127.0.0.1", port, "bench-sub", clean_start=False, max_inflight=100),
        on_message,
    )
    await sub.connect()
    await sub.subscribe([(TOPIC, SubscriptionOptions(qos=1))])
    pubs = []
    for i in range(publishers):
        client = MQTTClient(ClientOptions("127.0.0.1", port, f"bench-pub-{i}", max_inflight=20))
        await client.connect()
        pubs.append(client)
    share = messages // publishers

    async def publish_all(client: MQTTClient, n: int) -> None:
        futures = [await client.publish(TOPIC, PAYLOAD, 1) for _ in range(n)]
        await asyncio.gather(*futures)

    start = time.perf_counter()
    if source == "in-process":
        await (await pubs[0].publish(CONTROL, b"%d" % messages, 1))
    else:
        counts = [share] * publishers
        counts[0] += messages - share * publishers
        await asyncio.gather(*(publish_all(c, n) for c, n in zip(pubs, counts, strict=True)))
    await asyncio.wait_for(all_in.wait(), 300)
    elapsed = time.perf_counter() - start
    for client in [*pubs, sub]:
        await client.disconnect()
    return elapsed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_mode(mode: str, messages: int, publishers: int, source: str = "network") -> dict:
    """One broker, one run; returns the figures of this mode."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="bench-store-") as data:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.persistence", "--serve", str(port), data, mode],
            stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            proc.kill()
            raise RuntimeError(f"broker ({mode}) did not start")
        try:
            elapsed = asyncio.run(_load(port, messages, publishers, source))
        finally:
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=120)
    report = json.loads(out.strip().splitlines()[-1])
    written = report["bytes_written"] or 0
    return {
        "mode": mode,
        "source": source,
        "messages": messages,
        "msgs_per_s": round(messages / elapsed),
        "bytes_written": written,
        "bytes_per_1000": round(written * 1000 / messages),
        "commits": report["commits"],
    }


def _median(runs: list[dict]) -> dict:
    """The run with the median throughput (its bytes and commits come along)."""
    ordered = sorted(runs, key=lambda r: r["msgs_per_s"])
    return ordered[len(ordered) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="runs per mode (median kept)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--serve", nargs=3, metavar=("PORT", "DIR", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        try:
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        except ImportError:
            pass
        port, data, mode = args.serve
        asyncio.run(_serve(int(port), data, mode))
        return
    runs: dict[tuple[str, str], list[dict]] = {}
    for _ in range(args.rounds):  # modes alternate, so a busy spell hits them all alike
        for source in SOURCES:
            for m in MODES:
                runs.setdefault((source, m), []).append(
                    run_mode(m, args.messages, args.publishers, source)
                )
    results = [_median(r) for r in runs.values()]
    for r in results:
        # The machine's load drifts between runs: compare each run with the "off" run of the
        # same round and source, and keep the median of those ratios.
        offs = runs[(r["source"], "off")]
        mine = runs[(r["source"], r["mode"])]
        ratios = sorted(m["msgs_per_s"] / o["msgs_per_s"] for m, o in zip(mine, offs, strict=True))
        r["vs_off"] = ratios[len(ratios) // 2]
    print(f"QoS 1, {args.messages} messages of {len(PAYLOAD)} bytes, 1 persistent subscriber, "
          f"median of {args.rounds} rounds (vs off: median of per-round ratios); "
          f"network: {args.publishers} publishers, in-process: broker.publish()")  # fmt: skip
    print(f"{'source':<11} {'store':<9} {'msg/s':>8} {'vs off':>7} {'commits':>8} "
          f"{'bytes written/1000 msgs':>24}")  # fmt: skip
    for r in results:
        print(f"{r['source']:<11} {r['mode']:<9} {r['msgs_per_s']:>8} {r['vs_off']:>7.0%} "
              f"{r['commits']:>8} {r['bytes_per_1000']:>24}")  # fmt: skip
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
