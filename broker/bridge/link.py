"""One bridge: the local subscriptions, the upstream connection, and the traffic between.

Loops are prevented twice over: messages the bridge itself publishes locally (coming
``in``) are never sent back ``out`` (it publishes them with its own ``origin``, which the
message carries to its local subscriptions); and the upstream is asked not to echo our own
messages back, by MQTT 5.0's no-local subscription option or, for 3.1.1, by Mosquitto's
bridge bit (0x80 on the protocol level), which Mosquitto-compatible brokers honour.

Why over 300 lines: both directions of one bridge share its state (backlog, connection,
$SYS state); each direction alone is under 100 lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..engine.message import Message
from ..engine.topics import topic_matches
from ..protocol.packets import MQTT5, Publish, SubscriptionOptions
from ..protocol.wire import MQTTError
from .client import ClientOptions, ConnectionLost, ConnectionRefused, MQTTClient
from .config import BridgeConfig, TopicRule
from .queue import Backlog, Queued

if TYPE_CHECKING:
    from ..config import BrokerConfig
    from ..engine.sys import SysTopics


class LocalBroker(Protocol):
    """What a bridge uses of the broker it serves (:class:`broker.Broker` has it); the
    bridge knows nothing else of the server."""

    config: BrokerConfig
    #: The store (``when_durable(callback)``), or None without one.
    persistence: Any
    #: The $SYS registry (broker.engine.sys.SysTopics): the bridge's state plugs in.
    sys: SysTopics

    def publish(self, topic: str, payload: bytes | str, qos: int = 0, retain: bool = False,
                properties: dict | None = None, origin: str | None = None) -> None: ...

    def subscribe(self, topic_filter: str, callback: Callable[[Message], None],
                  qos: int = 0) -> Any: ...

log = logging.getLogger("broker.bridge")

SYS_STATE = "bridge/{name}/{key}"  # below $SYS/broker/
NEVER_EXPIRE = 0xFFFFFFFF
# Properties that describe the message itself and cross the bridge (5.0 on both ends).
_FORWARDED = ("payload_format_indicator", "content_type", "response_topic", "correlation_data",
              "user_property")  # fmt: skip


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Jittered exponential backoff: a random delay in [d/2, d], d = min(cap, base * 2^attempt).

    The jitter keeps a fleet of gateways from reconnecting in lockstep after an outage.
    """
    delay = min(cap, base * (2 ** min(attempt, 30)))
    return rng.uniform(delay / 2, delay)


def client_ssl(config: BridgeConfig) -> ssl.SSLContext | None:
    """The TLS context for the upstream connection (None without TLS)."""
    if not config.tls:
        return None
    context = ssl.create_default_context(cafile=config.cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if config.certfile:
        context.load_cert_chain(config.certfile, config.keyfile)
    if config.insecure:
        context.check_hostname = False
    return context


class Bridge:
    """A running bridge to one upstream broker."""

    def __init__(self, broker: LocalBroker, config: BridgeConfig, data_dir: Path | None) -> None:
        self.broker = broker
        self.config = config
        self.state = "stopped"
        path = data_dir / f"bridge-{config.name}.db" if data_dir is not None else None
        self.backlog = Backlog(config.queue_max_bytes, path)
        self.client: MQTTClient | None = None
        self._private = config.try_private  # dropped if the upstream refuses the bridge bit
        #: MQTT version to connect with: 5.0 unless configured, 3.1.1 once 5.0 was refused.
        self.version = config.protocol
        #: What the messages this bridge publishes locally carry as their origin. U+0000
        #: never occurs in an MQTT client id, so no client's no-local can mistake it.
        self.origin = f"\x00bridge:{config.name}"
        self._incoming_qos2: set[int] = set()  # QoS 2 from upstream, across reconnects
        self._local_subs: list = []
        self._task: asyncio.Task | None = None
        self._wakeup = asyncio.Event()
        self._commit_scheduled = False
        self._rng = random.Random()

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Subscribe locally for `out` topics and start connecting."""
        for rule in self.config.topics:
            if rule.outgoing:
                self._local_subs.append(
                    self.broker.subscribe(
                        rule.local_filter, lambda msg, r=rule: self._on_local(msg, r), rule.qos
                    )
                )
        self._set_state("connecting")
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run(), name=f"bridge {self.config.name}")
        if self.broker.config.sys_interval > 0:  # the backlog's counts, every interval
            self.broker.sys.add_source(self.sys_values)

    async def stop(self) -> None:
        """Disconnect cleanly; messages not yet forwarded stay in the backlog file."""
        for sub in self._local_subs:
            sub.cancel()
        self._local_subs.clear()
        self.broker.sys.remove_source(self.sys_values)
        for task in (self._task,):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.client is not None and self.client.is_connected:
            await self.client.disconnect()
        self.backlog.persist_all()
        self.backlog.close()
        self._set_state("stopped")

    # --- local -> upstream -------------------------------------------------------------

    def _on_local(self, msg: Message, rule: TopicRule) -> None:
        if msg.origin == self.origin:
            return  # our own `in` message: sending it back would loop
        props = {k: v for k, v in msg.properties.items() if k in _FORWARDED}
        item = Queued(rule.to_remote(msg.topic), msg.payload, msg.qos, msg.retain, props)
        self.backlog.push(item, durable=self.state != "connected")
        self._schedule_commit()
        self._wakeup.set()

    def _schedule_commit(self) -> None:
        # One backlog transaction per loop turn, however many messages it took.
        if not self._commit_scheduled:
            self._commit_scheduled = True
            asyncio.get_running_loop().call_soon(self._commit)

    def _commit(self) -> None:
        self._commit_scheduled = False
        self.backlog.commit()

    async def _send_loop(self, client: MQTTClient) -> None:
        """Forward the backlog in order; after a reconnect, from its oldest message."""
        backlog = self.backlog
        backlog.sent = 0
        v5 = client.version == MQTT5
        while True:
            if backlog.sent >= len(backlog.items):
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            item = backlog.items[backlog.sent]
            backlog.sent += 1
            fut = await client.publish(
                item.topic, item.payload, item.qos, item.retain, item.properties if v5 else None
            )
            fut.add_done_callback(lambda f, it=item: self._sent(f, it))

    def _sent(self, fut: asyncio.Future, item: Queued) -> None:
        if fut.cancelled() or fut.exception() is not None:
            return  # the connection ended: the item stays and is sent again
        self.backlog.acked(item)
        self._schedule_commit()

    # --- upstream -> local -------------------------------------------------------------

    def _on_remote(self, p: Publish, ack: Callable[[], None]) -> None:
        rule = self._rule_for_remote(p.topic)
        if rule is None:
            ack()  # not ours to take (an overlapping subscription upstream); accept it
            return
        props = {k: v for k, v in p.properties.items() if k in _FORWARDED}
        try:
            self.broker.publish(rule.to_local(p.topic), p.payload, p.qos, p.retain, props,
                                origin=self.origin)
        except ValueError as exc:
            log.warning("bridge %s: cannot publish %r locally: %s", self.config.name, p.topic, exc)
        persistence = self.broker.persistence
        if persistence is None or p.qos == 0:
            ack()
        else:
            persistence.when_durable(ack)  # PUBACK upstream only once it is on our disk

    def _rule_for_remote(self, topic: str) -> TopicRule | None:
        for rule in self.config.topics:
            if rule.incoming and topic_matches(rule.remote_filter, topic):
                return rule
        return None

    # --- the connection --------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        config = self.config
        while True:
            self._set_state("connecting")
            try:
                client = await self._connect()
            except (TimeoutError, OSError, MQTTError, ConnectionLost, ConnectionRefused) as exc:
                delay = backoff_delay(attempt, config.backoff_min, config.backoff_max, self._rng)
                attempt += 1
                self._set_state("disconnected")
                log.warning("bridge %s: cannot connect to %s:%d (%s); retrying in %.1f s",
                            config.name, config.host, config.port, exc or type(exc).__name__, delay)
                await asyncio.sleep(delay)
                continue
            attempt = 0
            self.client = client
            self._set_state("connected")
            log.info("bridge %s: connected to %s:%d (MQTT %s), %d messages to forward",
                     config.name, config.host, config.port,
                     "5.0" if client.version == MQTT5 else "3.1.1", len(self.backlog))
            sender = asyncio.get_running_loop().create_task(self._send_loop(client))
            assert client.closed is not None
            try:
                reason = await client.closed
            finally:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionLost):
                    await sender
            self.backlog.persist_all()  # the upstream is gone: keep the backlog on disk
            self._schedule_commit()
            self._set_state("disconnected")
            delay = backoff_delay(0, config.backoff_min, config.backoff_max, self._rng)
            log.warning("bridge %s: connection lost (%s); reconnecting in %.1f s",
                        config.name, reason or "closed", delay)
            await asyncio.sleep(delay)

    async def _connect(self) -> MQTTClient:
        config = self.config
        options = ClientOptions(
            host=config.host,
            port=config.port,
            client_id=config.remote_client_id,
            version=self.version,
            bridge_bit=self._private,
            clean_start=config.clean_session,
            keepalive=config.keepalive,
            username=config.username,
            password=config.password,
            ssl=client_ssl(config),
            session_expiry=0 if config.clean_session else NEVER_EXPIRE,
            max_inflight=config.max_inflight,
        )
        client = MQTTClient(options, self._on_remote, self._incoming_qos2)
        try:
            await client.connect()
        except ConnectionRefused as exc:
            # 0x01 (3.1.1: unacceptable protocol level) or 0x84 (5.0: unsupported version).
            if exc.code in (0x01, 0x84) and self.version == MQTT5 and config.protocol_fallback:
                log.warning("bridge %s: %s:%d refused MQTT 5.0 (code 0x%02x); using MQTT "
                            "3.1.1", config.name, config.host, config.port, exc.code)
                self.version = 4
                return await self._connect()
            if exc.code in (0x01, 0x84) and self._private and self.version == 4:
                # The upstream does not know the bridge bit: plain 3.1.1 from now on.
                log.info("bridge %s: upstream refused the bridge flag; connecting as a client",
                         config.name)
                self._private = False
                return await self._connect()
            raise
        v5 = self.version == MQTT5
        topics = [
            (rule.remote_filter,
             SubscriptionOptions(rule.qos, no_local=v5, retain_as_published=v5))
            for rule in config.topics
            if rule.incoming
        ]  # fmt: skip
        if topics:
            try:
                codes = await asyncio.wait_for(client.subscribe(topics), config.keepalive)
            except BaseException:
                await client.disconnect()
                raise
            refused = [t for (t, _), code in zip(topics, codes, strict=False) if code >= 0x80]
            if refused:
                log.warning("bridge %s: upstream refused subscriptions %s", config.name, refused)
        return client

    # --- state ---------------------------------------------------------------------------

    def _set_state(self, state: str) -> None:
        if state == self.state:
            return
        self.state = state
        self.broker.sys.publish(self.sys_values)  # a change of state is told at once

    def sys_values(self) -> Iterator[tuple[str, object]]:
        """$SYS/broker/bridge/<name>/state, queued, dropped (a source of the broker's $SYS
        registry, broker.engine.sys)."""
        name = self.config.name
        yield SYS_STATE.format(name=name, key="state"), self.state
        yield SYS_STATE.format(name=name, key="queued"), len(self.backlog)
        yield SYS_STATE.format(name=name, key="dropped"), self.backlog.dropped
