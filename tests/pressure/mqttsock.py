"""A blocking MQTT client on a plain socket, built on the broker's own codec, for tests that
need control paho does not give (stop reading, count acks, send raw bytes)."""

from __future__ import annotations

import socket
import time

from broker.protocol import Decoder, encode
from broker.protocol.packets import Connect, Packet, Publish, Subscribe, SubscriptionOptions


class SocketClient:
    """One connection; ``version`` 4 (3.1.1) or 5."""

    def __init__(
        self,
        port: int,
        client_id: str,
        version: int = 4,
        rcvbuf: int | None = None,
        clean: bool = True,
        keepalive: int = 60,
    ) -> None:
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        self.version = version
        self.decoder = Decoder(version=version)
        self.pending: list[Packet] = []
        self.send(
            Connect(
                protocol_level=version, client_id=client_id, clean_start=clean, keepalive=keepalive
            )
        )
        ack = self.expect(2)
        assert ack.reason_code == 0, ack

    def send(self, packet: Packet) -> None:
        self.sock.sendall(encode(packet, self.version))

    def subscribe(self, topic_filter: str, qos: int) -> list[int]:
        self.send(Subscribe(1, [(topic_filter, SubscriptionOptions(qos))]))
        return self.expect(9).reason_codes

    def publish(self, topic: str, payload: bytes, qos: int, packet_id: int = 0) -> None:
        self.send(Publish(topic, payload, qos, packet_id=packet_id))

    def read(self, timeout: float = 5.0) -> Packet | None:
        """The next packet, or None when nothing arrives in ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not self.pending:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return None
            if not data:
                raise ConnectionError("closed by broker")
            self.pending.extend(self.decoder.feed(data))
        return self.pending.pop(0)

    def expect(self, packet_type: int, timeout: float = 5.0) -> Packet:
        packet = self.read(timeout)
        assert packet is not None and packet.type == packet_type, packet
        return packet

    def close(self) -> None:
        self.sock.close()
