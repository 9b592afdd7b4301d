"""A blocking MQTT client over a plain socket, built on the broker's own codec.

For what paho cannot express: MQTT 3.1, malformed and hand-made packets, withheld
acknowledgements, DUP redelivery, each step of the QoS 2 exchange, topic aliases, limits.
Every packet the broker sends back is decoded strictly, so a broker that sends a malformed
packet fails the test that receives it.
"""

from __future__ import annotations

import itertools
import socket
import time
from collections import deque
from typing import Any, TypeVar

from broker.protocol import Decoder, encode
from broker.protocol.packets import (
    MQTT5,
    Connack,
    Connect,
    Disconnect,
    Packet,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    SubscriptionOptions,
    Unsuback,
    Unsubscribe,
    Will,
)
from support.ports import HOST

P = TypeVar("P")

TIMEOUT = 10.0  # generous: the machine is shared and loaded


class Closed(Exception):
    """The broker closed the connection."""


class RawClient:
    """One TCP connection speaking MQTT at protocol level ``version`` (3, 4 or 5)."""

    _ids = itertools.count(1)

    def __init__(self, port: int, version: int = 4, rcvbuf: int | None = None) -> None:
        """``rcvbuf``: a small receive buffer, so a client that stops reading pushes back
        on the broker early."""
        self.version = version
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect((HOST, port))
        self.decoder = Decoder(version=version)
        self.inbox: deque[Packet] = deque()
        # PUBLISHes that arrived while an acknowledgement was awaited: a broker may deliver
        # a message (even our own) before acknowledging the PUBLISH that caused it.
        self.stash: deque[Publish] = deque()
        self.eof = False
        self._next_id = 0
        self.client_id = ""
        self.connack: Connack | None = None

    # --- bytes -----------------------------------------------------------------------

    def send(self, packet: Packet) -> None:
        self.send_raw(encode(packet, self.version))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, timeout: float) -> None:
        """Read once (up to ``timeout``) and decode; sets ``eof`` when the peer closed."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
            return
        self.inbox.extend(self.decoder.feed(data))
        if self.decoder.error is not None:
            raise AssertionError(f"broker sent a bad packet: {self.decoder.error}")

    def recv(self, timeout: float = TIMEOUT) -> Packet:
        """The next packet from the broker; raises :class:`Closed` or TimeoutError."""
        deadline = time.monotonic() + timeout
        while not self.inbox:
            if self.eof:
                raise Closed("connection closed by the broker")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no packet from the broker")
            self._fill(left)
        return self.inbox.popleft()

    def expect(self, cls: type[P], timeout: float = TIMEOUT) -> P:
        """The next packet, which must be of class ``cls``.

        While waiting for anything but a PUBLISH, PUBLISHes are set aside for
        :meth:`receive`; any other packet out of turn fails the test.
        """
        if cls is Publish and self.stash:
            return self.stash.popleft()  # type: ignore[return-value]
        deadline = time.monotonic() + timeout
        while True:
            packet = self.recv(max(0.0, deadline - time.monotonic()))
            if isinstance(packet, Publish) and cls is not Publish:
                self.stash.append(packet)
                continue
            assert isinstance(packet, cls), f"expected {cls.__name__}, got {packet!r}"
            return packet

    def silent(self, wait: float = 0.5) -> None:
        """Assert that nothing arrives for ``wait`` seconds (and the connection stays up)."""
        assert not self.stash, f"unexpected packet {self.stash[0]!r}"
        deadline = time.monotonic() + wait
        while not self.inbox and not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._fill(left)
        assert not self.inbox, f"unexpected packet {self.inbox[0]!r}"
        raise AssertionError("connection closed unexpectedly")

    def closed(self, timeout: float = TIMEOUT) -> list[Packet]:
        """Wait for the broker to close; returns the packets it sent before closing."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"broker kept the connection open; got {list(self.inbox)}")
            self._fill(left)
        packets = list(self.stash) + list(self.inbox)
        self.stash.clear()
        self.inbox.clear()
        return packets

    def closed_with(self, reason_code: int, timeout: float = TIMEOUT) -> Disconnect:
        """Wait for a 5.0 DISCONNECT with ``reason_code`` followed by the close."""
        packets = self.closed(timeout)
        assert packets and isinstance(packets[-1], Disconnect), f"no DISCONNECT in {packets}"
        assert packets[-1].reason_code == reason_code, (
            f"DISCONNECT 0x{packets[-1].reason_code:02x}, expected 0x{reason_code:02x}"
        )
        return packets[-1]

    def close(self) -> None:
        """Drop the TCP connection without DISCONNECT (an abnormal end for the broker)."""
        try:
            self.sock.close()
        except OSError:
            pass

    # --- packets -----------------------------------------------------------------------

    def packet_id(self) -> int:
        self._next_id = self._next_id % 65535 + 1
        return self._next_id

    def connect(
        self,
        client_id: str | None = None,
        clean: bool = True,
        keepalive: int = 60,
        will: Will | None = None,
        username: str | None = None,
        password: bytes | None = None,
        properties: dict[str, Any] | None = None,
        expect_success: bool = True,
    ) -> Connack:
        """Send CONNECT and return the CONNACK (asserting success unless told not to)."""
        if client_id is None:
            client_id = f"raw-{next(self._ids)}-{time.monotonic_ns() % 10**9}"
        self.client_id = client_id
        self.send(
            Connect(
                protocol_level=self.version,
                client_id=client_id,
                clean_start=clean,
                keepalive=keepalive,
                will=will,
                username=username,
                password=password,
                properties=properties or {},
            )
        )
        ack = self.connack = self.expect(Connack)
        if expect_success:
            assert ack.reason_code == 0, f"CONNACK refused: 0x{ack.reason_code:02x} {ack}"
        return ack

    def subscribe(
        self,
        *filters: str | tuple[str, int] | tuple[str, SubscriptionOptions],
        properties: dict[str, Any] | None = None,
    ) -> Suback:
        """SUBSCRIBE to filters given as "t", ("t", qos) or ("t", SubscriptionOptions)."""
        topics = []
        for f in filters:
            if isinstance(f, str):
                topics.append((f, SubscriptionOptions(0)))
            elif isinstance(f[1], int):
                topics.append((f[0], SubscriptionOptions(f[1])))
            else:
                topics.append(f)  # type: ignore[arg-type]
        pid = self.packet_id()
        self.send(Subscribe(pid, topics, properties or {}))
        ack = self.expect(Suback)
        assert ack.packet_id == pid
        assert len(ack.reason_codes) == len(topics)
        return ack

    def unsubscribe(self, *filters: str) -> Unsuback:
        pid = self.packet_id()
        self.send(Unsubscribe(pid, list(filters)))
        ack = self.expect(Unsuback)
        assert ack.packet_id == pid
        return ack

    def publish(
        self,
        topic: str,
        payload: bytes = b"",
        qos: int = 0,
        retain: bool = False,
        properties: dict[str, Any] | None = None,
    ) -> Puback | Pubcomp | None:
        """PUBLISH and complete its acknowledgement flow; returns PUBACK / PUBCOMP.

        For QoS 2 the PUBREC must not be a failure; a failed PUBREC is returned as is.
        """
        pid = self.packet_id() if qos else 0
        self.send(Publish(topic, payload, qos, retain, False, pid, properties or {}))
        if qos == 0:
            return None
        if qos == 1:
            ack = self.expect(Puback)
            assert ack.packet_id == pid
            return ack
        rec = self.expect(Pubrec)
        assert rec.packet_id == pid
        if rec.reason_code >= 0x80:
            return rec  # type: ignore[return-value]
        self.send(Pubrel(pid))
        comp = self.expect(Pubcomp)
        assert comp.packet_id == pid
        return comp

    def receive(self, timeout: float = TIMEOUT, ack: bool = True) -> Publish:
        """The next PUBLISH (acknowledged unless ``ack`` is False; QoS 2 fully)."""
        p = self.expect(Publish, timeout)
        if ack:
            self.ack(p)
        return p

    def ack(self, p: Publish) -> None:
        """Acknowledge a received PUBLISH, completing the QoS 2 exchange too."""
        if p.qos == 1:
            self.send(Puback(p.packet_id))
        elif p.qos == 2:
            self.send(Pubrec(p.packet_id))
            rel = self.expect(Pubrel)
            assert rel.packet_id == p.packet_id
            self.send(Pubcomp(p.packet_id))

    def disconnect(self, reason_code: int = 0, properties: dict[str, Any] | None = None) -> None:
        """A normal DISCONNECT, then wait for the broker to close."""
        self.send(Disconnect(reason_code, properties or {}))
        self.closed()
        self.close()

    @property
    def v5(self) -> bool:
        return self.version == MQTT5
