"""Test doubles for the serial bridge: a recording broker and a scripted node."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from gateway.serial.framing import BadFrame, Frame, FrameDecoder, FrameType, encode_frame, open_body

CONNECT = b"\x10\x10\x00\x04MQTT\x04\x02\x00\x0f\x00\x04node"
CONNACK = b"\x20\x02\x00\x00"
PINGREQ = b"\xc0\x00"


class RecordingProtocol(asyncio.Protocol):
    """Stands in for the broker's MQTTProtocol and records every call."""

    def __init__(self, broker: RecordingBroker) -> None:
        self.broker = broker
        self.transport: Any = None
        self.data = bytearray()
        self.lost: list[Exception | None] = []
        self.paused = 0
        self.resumed = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.data += data
        if self.broker.reply_connack and CONNECT in self.data and not self.broker.replied(self):
            self.broker.replies.add(id(self))
            self.transport.write(CONNACK)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.append(exc)

    def pause_writing(self) -> None:
        self.paused += 1

    def resume_writing(self) -> None:
        self.resumed += 1


@dataclass
class RecordingBroker:
    """Has the broker's protocol_factory(listener=...) and keeps every protocol it made."""

    reply_connack: bool = True
    protocols: list[RecordingProtocol] = field(default_factory=list)
    listeners: list[str] = field(default_factory=list)
    replies: set[int] = field(default_factory=set)

    def protocol_factory(self, listener: str = "default") -> RecordingProtocol:
        self.listeners.append(listener)
        proto = RecordingProtocol(self)
        self.protocols.append(proto)
        return proto

    def replied(self, proto: RecordingProtocol) -> bool:
        return id(proto) in self.replies


class FakePort:
    """The PortIO of a NodeLink: keeps what the link writes."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.buffered = 0
        self.reading = True
        self.polls = 0

    def write(self, data: bytes) -> None:
        self.written += data

    def write_buffer_size(self) -> int:
        return self.buffered

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def poll(self) -> None:
        self.polls += 1


class ScriptedNode:
    """The node's side of the frame protocol, in Python, for the bridge tests."""

    def __init__(self, max_packet: int = 512) -> None:
        self.max_packet = max_packet
        self.decoder = FrameDecoder(4096)
        self.nonce = 0
        self.frames: list[Frame] = []
        self.bad: list[BadFrame] = []

    def open_frame(self) -> bytes:
        self.nonce = (self.nonce + 1) & 0xFF
        return encode_frame(FrameType.OPEN, open_body(self.nonce, self.max_packet))

    @staticmethod
    def data_frame(packet: bytes) -> bytes:
        return encode_frame(FrameType.DATA, packet)

    @staticmethod
    def close_frame() -> bytes:
        return encode_frame(FrameType.CLOSE)

    def receive(self, wire: bytes) -> list[Frame]:
        """Decodes bytes from the gateway; returns the new frames."""
        new = []
        for event in self.decoder.feed(wire):
            if isinstance(event, Frame):
                new.append(event)
            else:
                self.bad.append(event)
        self.frames += new
        return new

    def types(self) -> list[int]:
        return [f.type for f in self.frames]


def _mqtt_string(text: str) -> bytes:
    raw = text.encode()
    return len(raw).to_bytes(2, "big") + raw


def _mqtt_packet(first_byte: int, body: bytes) -> bytes:
    length = bytearray()
    n = len(body)
    while True:
        byte, n = n % 128, n // 128
        length.append(byte | (0x80 if n else 0))
        if not n:
            return bytes((first_byte,)) + bytes(length) + body


def mqtt_connect(client_id: str, will_topic: str, will_message: str, keepalive: int = 30) -> bytes:
    """An MQTT 3.1.1 CONNECT with a retained QoS 0 will, clean session."""
    flags = 0x02 | 0x04 | 0x20
    body = (_mqtt_string("MQTT") + bytes((4, flags)) + keepalive.to_bytes(2, "big")
            + _mqtt_string(client_id) + _mqtt_string(will_topic) + _mqtt_string(will_message))
    return _mqtt_packet(0x10, body)


def mqtt_publish(topic: str, payload: bytes, retain: bool = False) -> bytes:
    """An MQTT QoS 0 PUBLISH."""
    return _mqtt_packet(0x30 | (1 if retain else 0), _mqtt_string(topic) + payload)
