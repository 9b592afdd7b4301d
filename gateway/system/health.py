"""Is this gateway healthy? The check a freshly updated system passes before it marks its
slot good (otherwise the next boot is the old system): the broker answers a real MQTT
login, the gateway says it is online, and every polled sensor delivers a live reading.

``gateway system health`` runs it; with ``--mark`` it also tells RAUC the outcome. On the
boot that tries a new system (update-pending.json names the running slot and no outcome is
recorded for it yet) the check decides: the slot is marked good, or bad (the next boot is
the previous system), and the outcome is kept in ``update-health.json`` for the update
status to say why an update was rolled back. On every other boot a running gateway and
broker are enough to mark the slot good again (which resets the boot loader's attempts): a
sensor unplugged since must not send the gateway back to an older system; a gateway that
is not up is not marked, and the boot loader's attempts run out by themselves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt

from gateway import __version__
from gateway.config import Config
from gateway.drivers.base import driver_spec
from gateway.firstboot.bootfile import mqtt_port
from gateway.mqtt_url import BrokerURL, parse_broker_url
from gateway.system.update import (
    REPORT_FILE,
    Pending,
    current_boot_id,
    read_json,
    read_pending,
    write_json,
)
from gateway.system.update_rauc import Rauc
from gateway.topics import channel_topics

ONLINE = b"online"


@dataclass
class HealthReport:
    """The outcome of one check; ``problems`` say what failed, for a person."""

    problems: list[str] = field(default_factory=list)
    sensors_reporting: list[str] = field(default_factory=list)
    sensors_silent: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def gateway_up(self) -> bool:
        """The broker answers and the gateway is online (sensors aside)."""
        return len(self.problems) <= (1 if self.sensors_silent else 0)


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
                report.sensors_silent = silent
                report.problems.append(f"no reading within {timeout:.0f} s from: {', '.join(silent)}")
            report.sensors_reporting = sorted(reported)
    finally:
        client.disconnect()
        client.loop_stop()
    return report


@dataclass(frozen=True)
class Marked:
    """What ``--mark`` did: whether this boot was a trial, and the RAUC command (if any)."""

    trial: bool
    argv: list[str] | None


def is_trial(pending: Pending | None, booted: str, kept: dict[str, object] | None) -> bool:
    """Does this boot try the update in ``pending``: its slot runs, and no outcome of a
    trial of it is recorded yet (a recorded failure is tried again if it boots again)."""
    if pending is None or pending.slot != booted:
        return False
    if kept is None or kept.get("slot") != booted:
        return True
    checked = kept.get("checked")
    recorded = isinstance(checked, (int, float)) and checked >= pending.at
    return not (recorded and kept.get("ok") is True)


def mark_slot(report: HealthReport, data_dir: Path, rauc: Rauc,
              boot_id: Callable[[], str] = current_boot_id) -> Marked:
    """Tell RAUC whether the booted slot is good (see the module docstring)."""
    booted = rauc.status().booted
    report_file = data_dir / REPORT_FILE
    if not is_trial(read_pending(data_dir), booted, read_json(report_file)):
        return Marked(False, rauc.mark(True) if report.gateway_up else None)
    write_json(report_file, {"ok": report.ok, "problems": report.problems,
                             "checked": time.time(), "slot": booted, "version": __version__,
                             "boot_id": boot_id()})
    return Marked(True, rauc.mark(report.ok))
