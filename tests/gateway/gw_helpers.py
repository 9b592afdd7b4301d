"""Test doubles and peers for the gateway tests: the embedded bus on the real broker engine,
a scripted DHT, a paho subscriber that records what it sees, and the gateway as a process or
a thread. Brokers in subprocesses, ports and clocks come from support."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import paho.mqtt.client as mqtt

# Re-exported: the gateway tests import these from here.
from support.ports import free_port as free_port
from support.ports import wait_listening as wait_listening

from broker import Broker, BrokerConfig
from broker.engine.message import Message
from gateway.bus.base import ONLINE, MessageCallback, Subscription
from gateway.bus.embedded import EmbeddedBus

TIMEOUT = 20.0  # generous: other engineers' tests share the two cores


class _KeptSubscription(Subscription):
    """A subscription the bus makes again on a restarted broker."""

    def __init__(self, bus: EngineBus, topic_filter: str, callback: MessageCallback) -> None:
        self.bus, self.topic_filter, self.callback = bus, topic_filter, callback
        self.handle: Subscription | None = None

    def cancel(self) -> None:
        if self in self.bus.kept:
            self.bus.kept.remove(self)
        if self.handle is not None:
            self.handle.cancel()


class EngineBus(EmbeddedBus):
    """The gateway's embedded bus on the real broker engine, in this process (a Broker
    that is not listening): delivery and retained messages are the broker's own, and what
    the gateway publishes is recorded as it asked for it."""

    def __init__(self, status_topic: str = "home/gateway/status") -> None:
        super().__init__(Broker(BrokerConfig(sys_interval=0)), status_topic)
        self.published: list[tuple[str, bytes, bool]] = []
        self.kept: list[_KeptSubscription] = []

    def subscribe(self, topic_filter: str, callback: MessageCallback) -> Subscription:
        kept = _KeptSubscription(self, topic_filter, callback)
        kept.handle = super().subscribe(topic_filter, callback)
        self.kept.append(kept)
        return kept

    def publish(self, topic: str, payload: str | bytes, retain: bool = False,
                qos: int = 0) -> None:
        data = payload.encode() if isinstance(payload, str) else payload
        self.published.append((topic, data, retain))
        super().publish(topic, data, retain, qos)

    @property
    def retained(self) -> dict[str, bytes]:
        """What the broker keeps retained on the topics the gateway published to (not what
        other clients left), as a new subscriber to # gets it."""
        got: dict[str, bytes] = {}
        ours = {topic for topic, _, _ in self.published}

        def keep(message: Message) -> None:
            if message.retain and message.topic in ours:
                got[message.topic] = bytes(message.payload)

        self.broker.subscribe("#", keep).cancel()
        return got

    def reconnect(self, retained: dict[str, bytes] | None = None) -> None:
        """As a bus over the network sees a broker restarted without persistence: a new
        broker holding only ``retained`` (what other clients left there since), on which
        the bus makes its subscriptions again and comes online."""
        self.broker = Broker(BrokerConfig(sys_interval=0))
        for topic, payload in (retained or {}).items():
            self.broker.publish(topic, payload, retain=True)
        for kept in self.kept:
            kept.handle = super().subscribe(kept.topic_filter, kept.callback)
        self.publish(self.status_topic, ONLINE, retain=True, qos=1)
        self._run_connected_callbacks()

    def values(self, topic: str) -> list[str]:
        """Every payload the gateway published to ``topic``, in order."""
        return [p.decode() for t, p, _ in self.published if t == topic]

    def inject(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """A message from another client, through the broker to the subscribers."""
        self.broker.publish(topic, payload, retain=retain)


class ScriptedDht:
    """A DHT backend that plays a script: (temperature, humidity) tuples or exceptions.
    Records the clock time of every measure() call."""

    def __init__(self, script: Iterable[tuple[float, float] | BaseException],
                 clock: Callable[[], float] = time.monotonic, repeat_last: bool = True) -> None:
        self.script = list(script)
        self.clock = clock
        self.calls: list[float] = []
        self.repeat_last = repeat_last
        self.closed = False

    def measure(self) -> tuple[float | None, float | None]:
        self.calls.append(self.clock())
        step = self.script.pop(0) if len(self.script) > 1 or not self.repeat_last \
            else self.script[0]
        if isinstance(step, BaseException):
            raise step
        return step

    def close(self) -> None:
        self.closed = True


class Recorder:
    """A paho client subscribed to ``topic_filter`` on 127.0.0.1:port, keeping every
    message; wait_for() blocks until a matching one arrives."""

    def __init__(self, port: int, topic_filter: str = "#") -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *a: c.subscribe(topic_filter, qos=1)
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        assert self._subscribed.wait(TIMEOUT), "recorder could not subscribe"

    def _on_message(self, client: mqtt.Client, userdata: object,
                    message: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    def find(self, topic: str, payload: str | None = None,
             retained: bool | None = None) -> mqtt.MQTTMessage | None:
        for m in self.messages:
            if m.topic == topic and (payload is None or m.payload.decode() == payload) \
                    and (retained is None or bool(m.retain) == retained):
                return m
        return None

    def wait_for(self, topic: str, payload: str | None = None, retained: bool | None = None,
                 timeout: float = TIMEOUT) -> mqtt.MQTTMessage:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = self.find(topic, payload, retained)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(m.topic, m.payload[:60]) for m in self.messages[-20:]]
                    raise AssertionError(f"no {topic} {payload!r} within {timeout}s; "
                                         f"last seen: {seen}")
                self._cond.wait(left)

    def clear(self) -> None:
        with self._cond:
            self.messages.clear()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def publish_once(port: int, topic: str, payload: str | bytes, retain: bool = False) -> None:
    """Publish with QoS 1 from a short-lived paho client and wait for the ack."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    try:
        info = client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(timeout=TIMEOUT)
        assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


ROOT = Path(__file__).resolve().parents[2]


def gateway_command() -> list[str]:
    """The installed `gateway` script next to this Python (a venv), else `python -m`."""
    script = Path(sys.executable).parent / "gateway"
    return [str(script)] if script.exists() else [sys.executable, "-m", "gateway"]


class GatewayProcess:
    """`gateway run ARGS...` in a subprocess (output to ``log``), as a user starts it."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        self._out = log.open("ab")
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([*gateway_command(), "run", *args], cwd=ROOT, env=env,
                                     stdout=self._out, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_output(self, text: str, timeout: float = TIMEOUT) -> None:
        """Return once ``text`` is in the log (and the process is still running)."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert self.proc.poll() is None, f"gateway exited:\n{self.output()}"
            assert time.monotonic() < deadline, f"no {text!r} in the log:\n{self.output()}"
            time.sleep(0.05)

    def signal(self, number: int) -> None:
        self.proc.send_signal(number)

    def stop(self) -> int:
        """SIGTERM, then the exit status (killed after TIMEOUT)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        return self.proc.returncode

    def __enter__(self) -> GatewayProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._out.close()


class RunningGateway:
    """``gateway.serve.run`` on its own thread and event loop, with the test's hardware."""

    def __init__(self, config_text: str, data_dir: Path, hardware: object,
                 broker_url: str | None = None, port: int | None = None) -> None:
        from gateway.config import parse_config

        self.config = parse_config(config_text)
        self.data_dir = data_dir
        self.hardware = hardware
        self.broker_url = broker_url
        # The embedded broker's port (unused with an external broker).
        self.port: int = port if port is not None else free_port()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def __enter__(self) -> RunningGateway:
        self._thread.start()
        assert self._ready.wait(TIMEOUT), "gateway did not start"
        if self.error is not None:
            raise self.error
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _main(self) -> None:
        from gateway.serve import RunOptions, run

        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await run(self.config, RunOptions(broker_url=self.broker_url, host="127.0.0.1",
                                              port=None if self.broker_url else self.port,
                                              data_dir=str(self.data_dir)),
                      self._stop, hardware=self.hardware,  # type: ignore[arg-type]
                      on_ready=self._ready.set)

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the test thread
            self.error = exc
            self._ready.set()

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive(), "gateway did not stop"
        if self.error is not None:
            raise self.error
