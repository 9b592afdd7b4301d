"""The bus on top of paho-mqtt, for an external broker (Mosquitto, or ours elsewhere).

paho runs its network loop on its own thread; every callback is handed to the event loop
with call_soon_threadsafe, so the runtime sees the same single-threaded world as with the
embedded broker. paho reconnects by itself; on each connection we publish ``online``,
subscribe again and let the runtime re-publish its state.

It connects with MQTT 5.0 (Home Assistant is leaving 3.x behind) and, when the broker refuses
that version (CONNACK 0x01 from a 3.1.1 broker such as aedes, 0x84 from a 5.0 one that is
configured without it), with MQTT 3.1.1 from then on; the log says which one is in use.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.bus.base import OFFLINE, ONLINE, Bus, InboundMessage, MessageCallback, Subscription
from gateway.mqtt_url import BrokerURL

log = logging.getLogger(__name__)


class _PahoSubscription(Subscription):
    def __init__(self, bus: PahoBus, topic_filter: str, callback: MessageCallback) -> None:
        self._bus = bus
        self.topic_filter = topic_filter
        self.callback = callback

    def cancel(self) -> None:
        self._bus._remove(self)


#: CONNACK codes that mean "not this protocol version": 3.1.1's 0x01, 5.0's 0x84.
_UNSUPPORTED_VERSION = (0x01, 0x84)
_VERSION_NAMES = {mqtt.MQTTv5: "5.0", mqtt.MQTTv311: "3.1.1"}


class PahoBus(Bus):
    """An MQTT 5.0 (else 3.1.1) client connection with the gateway status as its last will."""

    def __init__(self, url: BrokerURL, status_topic: str, client_id: str,
                 keepalive: int = 60, username: str | None = None,
                 password: str | None = None) -> None:
        super().__init__(status_topic)
        self.url = url
        self.keepalive = keepalive
        self._client_id = client_id
        self._credentials = (username or url.username, password or url.password)
        self._subs: dict[str, list[_PahoSubscription]] = defaultdict(list)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = asyncio.Event()
        self.connected = False
        self._stopping = False
        #: mqtt.MQTTv5 until the broker refuses it, then mqtt.MQTTv311.
        self.protocol = mqtt.MQTTv5
        self.client = self._make_client(self.protocol)

    def _make_client(self, protocol: int) -> mqtt.Client:
        # MQTT 5.0 has no clean_session; its clean start is a connect() argument instead.
        session = {} if protocol == mqtt.MQTTv5 else {"clean_session": True}
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self._client_id,
                             protocol=protocol, **session)
        user, password = self._credentials
        if user:
            client.username_pw_set(user, password)
        if self.url.tls:
            client.tls_set()
        client.will_set(self.status_topic, OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=15)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _connect(self) -> None:
        clean = {"clean_start": True} if self.protocol == mqtt.MQTTv5 else {}
        self.client.connect_async(self.url.host, self.url.port, self.keepalive, **clean)
        self.client.loop_start()

    async def start(self, timeout: float = 30.0) -> None:
        self._loop = asyncio.get_running_loop()
        self._connect()
        try:
            await self.wait_connected(timeout)
        except TimeoutError:
            log.warning("broker %s not reachable yet; retrying in the background", self.url)

    async def wait_connected(self, timeout: float) -> None:
        """Wait until the bus is connected (again); TimeoutError after ``timeout``."""
        async with asyncio.timeout(timeout):
            await self._connected.wait()

    async def stop(self) -> None:
        self._stopping = True
        if self.connected:
            info = self.client.publish(self.status_topic, OFFLINE, qos=1, retain=True)
            await asyncio.get_running_loop().run_in_executor(None, info.wait_for_publish, 5.0)
        self.client.disconnect()
        # loop_stop joins paho's thread; keep the event loop free meanwhile.
        await asyncio.get_running_loop().run_in_executor(None, self.client.loop_stop)

    def publish(self, topic: str, payload: str | bytes, retain: bool = False,
                qos: int = 0) -> None:
        if not self.connected:
            return
        self.client.publish(topic, payload, qos=qos, retain=retain)

    def subscribe(self, topic_filter: str, callback: MessageCallback) -> Subscription:
        sub = _PahoSubscription(self, topic_filter, callback)
        first = not self._subs[topic_filter]
        self._subs[topic_filter].append(sub)
        if first and self.connected:
            self.client.subscribe(topic_filter, qos=1)
        return sub

    def _remove(self, sub: _PahoSubscription) -> None:
        subs = self._subs.get(sub.topic_filter, [])
        if sub in subs:
            subs.remove(sub)
        if not subs and sub.topic_filter in self._subs:
            del self._subs[sub.topic_filter]
            if self.connected:
                self.client.unsubscribe(sub.topic_filter)

    # paho's thread -> event loop

    def _call(self, fn: Callable[..., None], *args: object) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(fn, *args)

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags,
                    reason_code: ReasonCode, properties: Properties | None) -> None:
        if reason_code.is_failure:
            if reason_code.value in _UNSUPPORTED_VERSION and self.protocol == mqtt.MQTTv5 \
                    and client is self.client:
                client.disconnect()  # no more 5.0 attempts from this client
                self._call(self._fall_back, str(reason_code))
                return
            log.warning("broker %s refused the connection: %s", self.url, reason_code)
            return
        self._call(self._connected_on_loop)

    def _on_disconnect(self, client: mqtt.Client, userdata: object,
                       flags: mqtt.DisconnectFlags, reason_code: ReasonCode,
                       properties: Properties | None) -> None:
        if client is self.client:  # not the 5.0 client a fallback replaced
            self._call(self._disconnected_on_loop, str(reason_code))

    def _on_message(self, client: mqtt.Client, userdata: object,
                    message: mqtt.MQTTMessage) -> None:
        self._call(self._dispatch,
                   InboundMessage(message.topic, bytes(message.payload), bool(message.retain)))

    # on the event loop

    def _fall_back(self, reason: str) -> None:
        """The broker does not take MQTT 5.0: a 3.1.1 client replaces the 5.0 one."""
        if self._stopping or self.protocol != mqtt.MQTTv5:
            return
        log.warning("broker %s refused MQTT 5.0 (%s); using MQTT 3.1.1", self.url, reason)
        old = self.client
        self.protocol = mqtt.MQTTv311
        self.client = self._make_client(self.protocol)
        self._connect()
        # loop_stop joins the old client's thread: off the event loop.
        asyncio.get_running_loop().run_in_executor(None, old.loop_stop)

    def _connected_on_loop(self) -> None:
        log.info("connected to %s (MQTT %s)", self.url, _VERSION_NAMES[self.protocol])
        self.connected = True
        self._connected.set()
        self.client.publish(self.status_topic, ONLINE, qos=1, retain=True)
        for topic_filter in self._subs:
            self.client.subscribe(topic_filter, qos=1)
        self._run_connected_callbacks()

    def _disconnected_on_loop(self, reason: str) -> None:
        if self.connected and not self._stopping:
            log.warning("lost the broker %s (%s); reconnecting", self.url, reason)
        self.connected = False
        self._connected.clear()

    def _dispatch(self, message: InboundMessage) -> None:
        for topic_filter, subs in list(self._subs.items()):
            if mqtt.topic_matches_sub(topic_filter, message.topic):
                for sub in list(subs):
                    sub.callback(message)
