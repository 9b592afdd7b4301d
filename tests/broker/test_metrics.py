"""`python -m broker --metrics-port`: Prometheus metrics that a real parser reads and that
follow what clients do (connections, messages, queues, retained, store, bridge)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
from support.metrics import scrape, value
from support.ports import HOST, free_port
from support.processes import OurBroker

TIMEOUT = 30.0


def paho(port: int, client_id: str, clean: bool = True) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv311, clean_session=clean)
    client.connect(HOST, port, keepalive=60)
    client.loop_start()
    return client


def test_standalone_metrics_follow_the_traffic(
    make_broker_process: Callable[..., OurBroker], tmp_path: Path
) -> None:
    dead = free_port()  # the bridge's upstream: nobody listens there
    bridges = tmp_path / "bridges.toml"
    bridges.write_text(f'[[bridge]]\nname = "cloud"\naddress = "127.0.0.1:{dead}"\n'
                       'topic = ["bridged/# out 1"]\n')
    metrics_port = free_port()
    b = make_broker_process("--metrics-port", str(metrics_port), "--data-dir", str(tmp_path),
                            "--bridge-config", str(bridges))
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    before = scrape(url)
    assert value(before, "broker_clients_connected", listener="default") == 0

    sleeper = paho(b.port, "sleeper", clean=False)  # a persistent session, then offline
    sleeper.subscribe("q/#", qos=1)[1]
    sleeper.disconnect()
    sleeper.loop_stop()
    publisher = paho(b.port, "publisher")
    try:
        for i in range(3):
            publisher.publish(f"q/{i}", b"21.5", qos=1, retain=True).wait_for_publish(TIMEOUT)
        for i in range(2):
            publisher.publish(f"bridged/{i}", b"x" * 10, qos=1).wait_for_publish(TIMEOUT)
        after = scrape(url)
    finally:
        publisher.disconnect()
        publisher.loop_stop()

    assert value(after, "broker_clients_connected", listener="default") == 1
    assert value(after, "broker_connections_total") >= 2
    assert value(after, "broker_messages_received_total") >= 5
    assert value(after, "broker_received_bytes_total") > value(before, "broker_received_bytes_total")
    assert value(after, "broker_sent_bytes_total") > 0
    assert value(after, "broker_retained_messages") >= 3
    assert value(after, "broker_queued_messages") >= 3  # the sleeper's three
    assert value(after, "broker_queued_messages_max") >= 3
    assert value(after, "broker_queued_bytes") >= 3 * len(b"21.5")
    for name in ("broker_messages_dropped_total", "broker_messages_refused_total",
                 "broker_publishers_held"):
        assert value(after, name) == 0
    assert value(after, "broker_store_commits_total") > 0
    assert value(after, "broker_store_commit_seconds_count") > 0
    assert value(after, "broker_store_commit_seconds_bucket", le="+Inf") \
        == value(after, "broker_store_commit_seconds_count")
    assert value(after, "broker_store_written_bytes_total") > 0
    assert value(after, "broker_bridge_up", bridge="cloud") == 0
    assert value(after, "broker_bridge_state", bridge="cloud", state="connected") == 0
    assert value(after, "broker_bridge_backlog_messages", bridge="cloud") == 2
    assert value(after, "broker_bridge_backlog_bytes", bridge="cloud") >= 20
