"""Debian's mosquitto_pub / mosquitto_sub (an independent MQTT implementation) against
`python -m broker`: publish/subscribe at every QoS, retained messages, wills, 5.0 properties."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from support.mosquitto_clients import MosquittoSub, mosquitto_pub, require_clients
from support.processes import OurBroker

VERSIONS = ["mqttv311", "mqttv5"]


@pytest.fixture
def sub(broker_process: OurBroker) -> Iterator[Callable[..., MosquittoSub]]:
    require_clients()
    started: list[MosquittoSub] = []

    def start(version: str, *args: str) -> MosquittoSub:
        s = MosquittoSub(broker_process.port, version, *args)
        started.append(s)
        return s.wait_subscribed()

    yield start
    for s in started:
        s.stop()


@pytest.mark.parametrize("version", VERSIONS)
def test_pub_sub_every_qos(broker_process: OurBroker, sub, topic: str, version: str) -> None:
    s = sub(version, "-q", "2", "-t", f"{topic}/#")
    for qos in ("0", "1", "2"):
        mosquitto_pub(
            broker_process.port, version, "-q", qos, "-t", f"{topic}/q{qos}", "-m", f"m{qos}"
        )
    got = [s.message() for _ in range(3)]
    assert [(t, q, p) for t, q, _, _, p in got] == [
        (f"{topic}/q0", 0, "m0"),
        (f"{topic}/q1", 1, "m1"),
        (f"{topic}/q2", 2, "m2"),
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_subscription_qos_caps_delivery(
    broker_process: OurBroker, sub, topic: str, version: str
) -> None:
    s = sub(version, "-q", "1", "-t", topic)
    mosquitto_pub(broker_process.port, version, "-q", "2", "-t", topic, "-m", "capped")
    assert s.message()[1] == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_retained(broker_process: OurBroker, sub, topic: str, version: str) -> None:
    port = broker_process.port
    mosquitto_pub(port, version, "-r", "-q", "1", "-t", topic, "-m", "old")
    mosquitto_pub(port, version, "-r", "-q", "1", "-t", topic, "-m", "stored")
    s = sub(version, "-q", "1", "-t", topic)
    t, q, retain, _, payload = s.message()
    assert (t, q, retain, payload) == (topic, 1, True, "stored")
    mosquitto_pub(port, version, "-q", "1", "-t", topic, "-m", "live")
    assert s.message()[2:] == (False, "", "live")
    # An empty retained message clears it.
    mosquitto_pub(port, version, "-r", "-q", "1", "-t", topic, "-n")
    late = sub(version, "-q", "1", "-t", topic, "-t", f"{topic}/marker")
    mosquitto_pub(port, version, "-t", f"{topic}/marker", "-m", "end")
    assert late.message()[4] == "end"  # nothing retained came before the marker


@pytest.mark.parametrize("version", VERSIONS)
def test_will_on_killed_client(
    broker_process: OurBroker, sub, topic: str, version: str
) -> None:
    watcher = sub(version, "-q", "1", "-t", f"{topic}/status")
    doomed = sub(
        version,
        "-t",
        f"{topic}/anything",
        "--will-topic",
        f"{topic}/status",
        "--will-payload",
        "offline",
        "--will-qos",
        "1",
    )
    doomed.kill()
    t, q, _, _, payload = watcher.message()
    assert (t, q, payload) == (f"{topic}/status", 1, "offline")


def test_mqtt5_properties_between_mosquitto_clients(
    broker_process: OurBroker, sub, topic: str
) -> None:
    s = sub("mqttv5", "-q", "1", "-t", topic)
    mosquitto_pub(
        broker_process.port,
        "mqttv5",
        "-q",
        "1",
        "-t",
        topic,
        "-m",
        "with props",
        "-D",
        "publish",
        "user-property",
        "room",
        "kitchen",
    )
    assert s.message()[3:] == ("room:kitchen", "with props")


@pytest.mark.parametrize("version", VERSIONS)
def test_overlapping_subscriptions_one_copy(
    broker_process: OurBroker, sub, topic: str, version: str
) -> None:
    """MQTT-3.3.5-1 seen from mosquitto_sub: one message, highest QoS."""
    s = sub(version, "-q", "2", "-t", f"{topic}/#", "-t", f"{topic}/+", "-t", f"{topic}/x")
    mosquitto_pub(broker_process.port, version, "-q", "2", "-t", f"{topic}/x", "-m", "one")
    mosquitto_pub(broker_process.port, version, "-q", "0", "-t", f"{topic}/end", "-m", "end")
    # libmosquitto hands a QoS 2 message over at PUBREL, so the QoS 0 marker may overtake it.
    assert sorted(s.message()[4] for _ in range(2)) == ["end", "one"]
