"""The bridge speaks MQTT 5.0 unless told otherwise, and falls back to 3.1.1 by itself when
the upstream refuses 5.0 (aedes from npm answers CONNACK 0x01), saying so in the log."""

from __future__ import annotations

from pathlib import Path

from store.procs import Publisher, Recorder, wait_until

from .conftest import bridge_file


def forwards(broker_port: int, upstream_port: int) -> None:
    """A message published here arrives upstream under the bridge's remote prefix."""
    upstream = Recorder(upstream_port, "watcher", clean=True).start()
    publisher = Publisher(broker_port, "sensor", clean=True).start()
    try:
        upstream.subscribe("gw/#", 1)
        publisher.publish("sensors/kitchen", b"21.5", 1)
        wait_until(lambda: b"21.5" in upstream.payloads(), what="the message upstream")
    finally:
        publisher.stop()
        upstream.stop()


def test_falls_back_to_311_when_the_upstream_refuses_5(tmp_path: Path, our_broker,
                                                       aedes: int) -> None:
    cfg = bridge_file(tmp_path, aedes, ['sensors/# out 1 "" gw/'])
    broker = our_broker("gw", "--bridge-config", str(cfg))
    forwards(broker.port, aedes)
    log = broker.log()
    assert "refused MQTT 5.0 (code 0x01); using MQTT 3.1.1" in log
    assert f"bridge up: connected to 127.0.0.1:{aedes} (MQTT 3.1.1)" in log


def test_mqtt5_by_default(tmp_path: Path, our_broker, mosquitto) -> None:
    upstream = mosquitto("allow_anonymous true\n")
    cfg = bridge_file(tmp_path, upstream.port, ['sensors/# out 1 "" gw/'])
    broker = our_broker("gw", "--bridge-config", str(cfg))
    forwards(broker.port, upstream.port)
    assert f"bridge up: connected to 127.0.0.1:{upstream.port} (MQTT 5.0)" in broker.log()
    assert "using MQTT 3.1.1" not in broker.log()


def test_an_explicit_5_does_not_fall_back(tmp_path: Path, our_broker, aedes: int) -> None:
    cfg = bridge_file(tmp_path, aedes, ['sensors/# out 1 "" gw/'], protocol="mqttv50")
    broker = our_broker("gw", "--bridge-config", str(cfg))
    wait_until(lambda: "cannot connect" in broker.log(), what="a refused connection")
    assert "using MQTT 3.1.1" not in broker.log()
