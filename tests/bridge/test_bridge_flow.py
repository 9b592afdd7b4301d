"""Bridges between two of our brokers and between ours and Debian's mosquitto."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from store.procs import Publisher, Recorder, wait_until

from .conftest import bridge_file


def _state(broker_port: int) -> Recorder:
    rec = Recorder(broker_port, "state-watch", clean=True).start()
    rec.subscribe("$SYS/broker/bridge/up/state", 0)
    return rec


def _in_order(payloads: list[bytes], n: int) -> list[bytes]:
    """First occurrences (QoS 1 may repeat after a reconnect), which must be 0..n-1 in order."""
    seen: list[bytes] = []
    known: set[bytes] = set()
    for p in payloads:
        if p not in known:
            known.add(p)
            seen.append(p)
    return seen


class Pair:
    """A bridged local broker and its upstream, each with a subscriber to # and a publisher."""

    def __init__(self, local_port: int, up_port: int) -> None:
        self.state = _state(local_port)
        wait_until(lambda: b"connected" in self.state.payloads(), what="bridge connected")
        self.up_sub = Recorder(up_port, "up-sub", clean=True).start()
        self.up_sub.subscribe("#", 1)
        self.loc_sub = Recorder(local_port, "loc-sub", clean=True).start()
        self.loc_sub.subscribe("#", 1)
        time.sleep(0.5)
        self.loc_pub = Publisher(local_port, "loc-pub", clean=True).start()
        self.up_pub = Publisher(up_port, "up-pub", clean=True).start()

    def check_both_ways_once(self) -> None:
        """A `both` topic: each side sees the other's message once, never its own back."""
        self.loc_pub.publish("chat/a", b"from-local", 1)
        self.up_pub.publish("chat/b", b"from-upstream", 1)
        wait_until(lambda: b"from-local" in self.up_sub.payloads(), what="chat out")
        wait_until(lambda: b"from-upstream" in self.loc_sub.payloads(), what="chat in")
        time.sleep(1.0)  # a loop would have multiplied them by now
        for rec in (self.up_sub, self.loc_sub):
            assert rec.payloads().count(b"from-local") == 1
            assert rec.payloads().count(b"from-upstream") == 1

    def stop(self) -> None:
        for c in (self.loc_pub, self.up_pub, self.up_sub, self.loc_sub, self.state):
            c.stop()


@pytest.mark.parametrize("protocol", ["mqttv50", "mqttv311"])
def test_both_directions_between_our_brokers(tmp_path: Path, our_broker, protocol: str) -> None:
    upstream = our_broker("upstream")
    cfg = bridge_file(
        tmp_path, upstream.port,
        ['sensors/# out 1 "" gw/', 'cmd/# in 1 "" gw/', "chat/# both 1"], protocol=protocol,
    )  # fmt: skip
    local = our_broker("local", "--bridge-config", str(cfg))
    pair = Pair(local.port, upstream.port)
    pair.loc_pub.publish("sensors/kitchen/temperature", b"21.5", 1)
    pair.up_pub.publish("gw/cmd/relay1/set", b"ON", 1)
    wait_until(lambda: ("gw/sensors/kitchen/temperature", b"21.5", 1) in pair.up_sub.received,
               what="out message upstream")  # fmt: skip
    wait_until(lambda: ("cmd/relay1/set", b"ON", 1) in pair.loc_sub.received, what="in message")
    if protocol == "mqttv50":
        pair.check_both_ways_once()  # (our broker does not take the 3.1.1 bridge flag)
    pair.stop()


def _restart_while_flowing(upstream, restart, local_port: int, up_port: int, n: int = 400) -> None:
    """Publish n QoS 1 messages locally while ``restart()`` bounces the upstream twice."""
    up_sub = Recorder(up_port, "up-sub").start()  # persistent: survives the upstream restart
    up_sub.subscribe("gw/#", 1)
    time.sleep(0.5)
    pub = Publisher(local_port, "loc-pub", clean=True).start()
    done = threading.Event()

    def produce() -> None:
        for i in range(n):
            pub.publish("sensors/t", b"%d" % i, 1)
            time.sleep(0.004)
        done.set()

    threading.Thread(target=produce, daemon=True).start()
    time.sleep(0.4)
    restart()
    time.sleep(0.6)
    restart()
    assert done.wait(120)
    wait_until(pub.all_acked, what="local acks")
    expected = [b"%d" % i for i in range(n)]
    try:
        wait_until(lambda: len(_in_order(up_sub.payloads(), n)) >= n, timeout=90,
                   what="every message upstream")  # fmt: skip
    finally:
        up_sub.stop()
        pub.stop()
    assert _in_order(up_sub.payloads(), n) == expected


def test_upstream_killed_while_flowing_ours(tmp_path: Path, our_broker) -> None:
    upstream = our_broker("upstream")
    cfg = bridge_file(tmp_path, upstream.port, ['sensors/# out 1 "" gw/'], protocol="mqttv50")
    local = our_broker("local", "--bridge-config", str(cfg))

    def restart() -> None:
        upstream.kill9()
        time.sleep(0.3)
        upstream.start()

    try:
        _restart_while_flowing(upstream, restart, local.port, upstream.port)
    except BaseException:
        print(local.log())
        raise


@pytest.mark.parametrize("protocol", ["mqttv311", "mqttv50"])
def test_mosquitto_upstream_restarts_while_flowing(
    tmp_path: Path, our_broker, mosquitto, protocol: str
) -> None:
    up = mosquitto(f"persistence true\npersistence_location {tmp_path}/\nautosave_interval 1\n")
    up.conf.write_text(up.conf.read_text().replace("persistence false\n", ""))
    up.stop()
    up.start()
    cfg = bridge_file(tmp_path, up.port, ['sensors/# out 1 "" gw/'], protocol=protocol)
    local = our_broker("local", "--bridge-config", str(cfg))

    def restart() -> None:
        up.stop()  # SIGTERM: mosquitto saves the subscriber's session and queue
        time.sleep(0.3)
        up.start()

    try:
        _restart_while_flowing(up, restart, local.port, up.port)
    except BaseException:
        print(local.log(), up.log())
        raise


def test_mosquitto_311_bridge_bit_prevents_loops(tmp_path: Path, our_broker, mosquitto) -> None:
    up = mosquitto()
    cfg = bridge_file(tmp_path, up.port, ["chat/# both 1"], protocol="mqttv311")
    local = our_broker("local", "--bridge-config", str(cfg))
    pair = Pair(local.port, up.port)
    pair.check_both_ways_once()
    assert "refused the bridge flag" not in local.log()  # mosquitto took the bridge bit
    pair.stop()
