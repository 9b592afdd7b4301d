"""Is this gateway healthy? The check a freshly updated system passes before it marks its
slot good (otherwise the next boot is the old system): the broker answers a real MQTT
login, the gateway says it is online, and every polled sensor delivers a live reading.

``gateway system health`` runs it; with ``--mark`` it also tells RAUC the outcome.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt

from gateway.config import Config
from gateway.drivers.base import driver_spec
from gateway.firstboot.bootfile import mqtt_port
from gateway.mqtt_url import BrokerURL, parse_broker_url
from gateway.topics import channel_topics

ONLINE = b"online"
#: What the last check found, for the dashboard to say why an update was rolled back.
REPORT_FILE = "update-health.json"


@dataclass
class HealthReport:
    """The outcome of one check; ``problems`` say what failed, for a person."""

    problems: list[str] = field(default_factory=list)
    sensors_reporting: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def broker_url_of(config: Config) -> BrokerURL:
    """Where the gateway's own tools reach its broker: the embedded one on loopback."""
    if config.mqtt.url:
        return parse_broker_url(config.mqtt.url)
    return BrokerURL("127.0.0.1", mqtt_port(config.broker))


def expected_readings(config: Config) -> dict[str, str]:
    """Value topic -> sensor key, for every channel of every polled sensor (GPIO pins have
    no reading of their own to wait for: they are as available as the gateway)."""
    topics: dict[str, str] = {}
    for sensor in config.sensors:
        spec = driver_spec(sensor.driver)
        if spec is None or spec.interval is None:
            continue
        for channel in spec.channels(sensor.driver):
            topics[channel_topics(config.gateway.topic_prefix, sensor, spec, channel).state] = \
                sensor.key
    return topics


def default_timeout(config: Config) -> float:
    """Two rounds of the slowest sensor, and time for the broker and drivers to start."""
    return 60.0 + 2 * max((s.interval or 0.0 for s in config.sensors), default=0.0)


def check_health(config: Config, timeout: float, url: BrokerURL | None = None) -> HealthReport:
    """Log in to the broker, then wait up to ``timeout`` seconds for the gateway's online
    status and a live reading of every polled sensor."""
    url = url or broker_url_of(config)
    waiting = expected_readings(config)
    sensors = set(waiting.values())
    report = HealthReport()
    lock = threading.Condition()
    state: dict[str, object] = {"connack": None, "online": False}
    reported: set[str] = set()

    def on_connect(client: mqtt.Client, userdata: object, flags: object, reason: object,
                   properties: object) -> None:
        with lock:
            state["connack"] = reason
            lock.notify_all()
        client.subscribe([(config.gateway.status_topic, 1), *((t, 0) for t in waiting)])

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with lock:
            if message.topic == config.gateway.status_topic:
                state["online"] = message.payload == ONLINE
            elif message.topic in waiting and not message.retain:
                reported.add(waiting[message.topic])  # retained values may be from before
            lock.notify_all()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv311)
    if url.username:
        client.username_pw_set(url.username, url.password)
    client.on_connect = on_connect
    client.on_message = on_message
    deadline = time.monotonic() + timeout
    try:
        client.connect(url.host, url.port, keepalive=30)
    except OSError as exc:
        report.problems.append(f"the broker does not answer at {url.host}:{url.port}: {exc}")
        return report
    client.loop_start()
    try:
        with lock:
            lock.wait_for(lambda: state["connack"] is not None, max(0.0, deadline - time.monotonic()))
            connack = state["connack"]
            if connack is None or getattr(connack, "is_failure", False):
                report.problems.append(f"the broker refused or ignored a login: {connack}")
                return report
            lock.wait_for(lambda: bool(state["online"]) and reported >= sensors,
                          max(0.0, deadline - time.monotonic()))
            if not state["online"]:
                report.problems.append(f"the gateway is not online ({config.gateway.status_topic})")
            silent = sorted(sensors - reported)
            if silent:
                report.problems.append(f"no reading within {timeout:.0f} s from: {', '.join(silent)}")
            report.sensors_reporting = sorted(reported)
    finally:
        client.disconnect()
        client.loop_stop()
    return report


Runner = Callable[[list[str]], object]


def mark_slot(report: HealthReport, data_dir: Path,
              run: Runner = lambda argv: subprocess.run(argv, check=True)) -> list[str]:
    """Tell RAUC whether the booted slot is good; the report is kept in ``data_dir`` so that
    the dashboard can say why an update was rolled back. A bad slot is marked bad: the next
    boot is the other (previous) system. Returns the command run."""
    (data_dir / REPORT_FILE).write_text(json.dumps({
        "ok": report.ok, "problems": report.problems, "checked": time.time()}) + "\n")
    argv = ["rauc", "status", "mark-good" if report.ok else "mark-bad", "booted"]
    run(argv)
    return argv
