"""The gateway's end of one serial cable: frames in, MQTT connections to the broker out.

A node opens a connection with OPEN (answered with ACCEPT), carries the MQTT stream in DATA
frames and ends it with CLOSE, so a serial cable behaves like a series of TCP connections:

* OPEN while a connection is open means the node rebooted: the old connection is lost
  (the broker publishes its will) and a new one starts.
* A bad frame while connected may have carried an MQTT packet, so the stream can no longer
  be trusted: the connection ends (will published) and the node is told with CLOSE; it
  reconnects as it would after a dropped TCP connection.
* DATA outside a connection (a node that missed our CLOSE, a bridge restart) is answered
  with CLOSE, so the node reconnects instead of talking into the void.

Only the port I/O is outside this module (:mod:`gateway.serial.port`); tests drive a
NodeLink with bytes and a fake port.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from .counters import PortCounters
from .framing import (
    FRAME_HEADER_AND_CRC,
    LINK_VERSION,
    BadFrame,
    Frame,
    FrameDecoder,
    FrameType,
    encode_frame,
)

log = logging.getLogger("gateway.serial")

# The largest MQTT packet the bridge accepts from a node. PubSubClient's default buffer is
# 256 bytes; nodes that raise it (setBufferSize) stay well below this.
DEFAULT_MAX_PACKET = 4096
# What a node that does not say its receive limit is assumed to take (PubSubClient default).
DEFAULT_NODE_MAX_PACKET = 256
# Write-buffer marks for pause_writing()/resume_writing(): at 115200 baud 64 KiB is ~6 s.
DEFAULT_HIGH_WATER = 64 * 1024
# At most one CLOSE per this many seconds in answer to stray DATA, so a node that floods
# without a connection cannot make us flood back.
STRAY_CLOSE_INTERVAL = 0.2
# Bad frames are logged once, then summarised at most this often.
BAD_FRAME_LOG_INTERVAL = 30.0
# Senders write a frame in one go, so a line quiet this long in the middle of a frame means
# the "frame" was noise: end it now rather than when the node's next frame arrives (which
# would then be lost too). Far longer than any gap inside a frame, even at 9600 baud.
FRAME_GAP_TIMEOUT = 0.25


# UPDATE_READ: md5 (16 raw bytes), offset (u32 BE), length (u16 BE); at most this much.
UPDATE_READ_BODY = 16 + 4 + 2
MAX_UPDATE_CHUNK = 256


class ImageSource(Protocol):
    """Where the link finds firmware images (gateway.node_firmware.FirmwareStore)."""

    def data_by_md5(self, md5: bytes) -> bytes | None: ...


class PortIO(Protocol):
    """What a NodeLink needs from its serial port."""

    def write(self, data: bytes) -> None: ...

    def write_buffer_size(self) -> int: ...

    def poll(self) -> None:
        """Reads (into the link) whatever input is waiting, without blocking."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class Cancellable(Protocol):
    """A scheduled call (asyncio.TimerHandle)."""

    def cancel(self) -> None: ...


class NodeLink:
    """Link protocol of one serial port; hands each node connection to the broker.

    ``protocol_factory()`` returns a fresh asyncio.Protocol per connection (the broker's
    ``protocol_factory(listener="serial")``).
    """

    def __init__(
        self,
        name: str,
        port: PortIO,
        protocol_factory: Callable[[], asyncio.Protocol],
        counters: PortCounters | None = None,
        *,
        max_packet: int = DEFAULT_MAX_PACKET,
        clock: Callable[[], float] = time.monotonic,
        call_later: Callable[[float, Callable[[], None]], Cancellable] | None = None,
        frame_gap: float = FRAME_GAP_TIMEOUT,
        firmware: ImageSource | None = None,
    ) -> None:
        self.name = name
        self.port = port
        self.counters = counters if counters is not None else PortCounters()
        self._factory = protocol_factory
        self._clock = clock
        self._decoder = FrameDecoder(max_packet + FRAME_HEADER_AND_CRC)
        self._session: LinkTransport | None = None
        self._last_stray_close = -STRAY_CLOSE_INTERVAL
        self._last_bad_log = -BAD_FRAME_LOG_INTERVAL
        self._bad_since_log = 0
        self._call_later = call_later
        self._frame_gap = frame_gap
        self._last_input = 0.0
        self._gap_timer: Cancellable | None = None
        self._firmware = firmware

    @property
    def session(self) -> LinkTransport | None:
        """The transport of the node's current MQTT connection, if one is open."""
        return self._session

    # --- bytes from the port ------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """Feeds raw bytes read from the port."""
        self.counters.bytes_in += len(data)
        self._last_input = self._clock()
        for event in self._decoder.feed(data):
            if isinstance(event, Frame):
                self.counters.frames_in += 1
                self._on_frame(event)
            else:
                self._on_bad_frame(event)
        if self._decoder.in_frame and self._gap_timer is None:
            self._arm_gap_timer(self._frame_gap)

    def _arm_gap_timer(self, delay: float) -> None:
        call_later = self._call_later or asyncio.get_running_loop().call_later
        self._gap_timer = call_later(delay, self._check_gap)

    def _cancel_gap_timer(self) -> None:
        if self._gap_timer is not None:
            self._gap_timer.cancel()
            self._gap_timer = None

    def _check_gap(self) -> None:
        self._gap_timer = None
        # Input may be waiting behind this timer (uvloop runs timers before I/O): read it
        # first, so a busy loop is never mistaken for a quiet line.
        self.port.poll()
        if not self._decoder.in_frame or self._gap_timer is not None:
            return
        quiet = self._clock() - self._last_input
        if quiet < self._frame_gap:
            self._arm_gap_timer(self._frame_gap - quiet)
            return
        self._decoder.reset()
        self._on_bad_frame(BadFrame.STALLED)

    def port_lost(self, exc: Exception | None) -> None:
        """The port is gone (unplugged, I/O error): the connection is lost, no CLOSE sent."""
        self._cancel_gap_timer()
        self._decoder.reset()
        self._end_session(exc or ConnectionError(f"{self.name}: serial port lost"), tell_node=False)

    def close(self) -> None:
        """The bridge is stopping: tell the node and end its connection."""
        self._cancel_gap_timer()
        self._end_session(None, tell_node=True)

    # --- frames ---------------------------------------------------------------------------

    def _on_frame(self, frame: Frame) -> None:
        if frame.type == FrameType.DATA:
            self._on_data(frame.body)
        elif frame.type == FrameType.OPEN:
            self._on_open(frame.body)
        elif frame.type == FrameType.CLOSE:
            if self._session is not None:
                self.counters.closed_by_node += 1
                self._end_session(None, tell_node=False)
        elif frame.type == FrameType.UPDATE_READ:
            self._on_update_read(frame.body)
        else:
            self.counters.unknown_frames += 1

    def _on_data(self, body: bytes) -> None:
        session = self._session
        if session is None:
            self.counters.stray_data += 1
            now = self._clock()
            if now - self._last_stray_close >= STRAY_CLOSE_INTERVAL:
                self._last_stray_close = now
                self._send(FrameType.CLOSE)
            return
        try:
            session.protocol.data_received(body)
        except Exception as exc:  # a broker bug must not take the bridge down
            log.exception("%s: broker failed on data from the node", self.name)
            self._end_session(exc, tell_node=True)

    def _on_open(self, body: bytes) -> None:
        if len(body) < 2 or body[0] != LINK_VERSION:
            self.counters.unknown_frames += 1
            log.warning("%s: OPEN with unsupported link version %s", self.name, body[:1].hex())
            self._send(FrameType.CLOSE)
            return
        if self._session is not None:
            self.counters.node_resets += 1
            log.info("%s: node reopened the link (reset?): previous connection lost", self.name)
            self._end_session(ConnectionResetError("node reopened the serial link"), tell_node=False)
        node_max = int.from_bytes(body[2:4], "big") if len(body) >= 4 else DEFAULT_NODE_MAX_PACKET
        try:
            protocol = self._factory()
        except Exception:
            log.exception("%s: the broker could not take a connection", self.name)
            self._send(FrameType.CLOSE)
            return
        self._send(FrameType.ACCEPT, bytes((LINK_VERSION, body[1])))
        session = LinkTransport(self, protocol, node_max)
        self._session = session
        self.counters.connections += 1
        log.info("%s: node connected (receives up to %d bytes)", self.name, node_max)
        try:
            protocol.connection_made(session)
        except Exception as exc:
            log.exception("%s: broker refused the connection", self.name)
            self._end_session(exc, tell_node=True)

    def _on_update_read(self, body: bytes) -> None:
        """A chunk of a firmware image (docs/contracts.md "Node firmware updates"). Works with
        or without an MQTT connection open, and interleaves with its DATA frames."""
        offset = int.from_bytes(body[16:20], "big") if len(body) >= 20 else 0
        if len(body) != UPDATE_READ_BODY:
            self._update_error(offset, f"bad UPDATE_READ: {len(body)} bytes, expected "
                               f"{UPDATE_READ_BODY}")
            return
        length = int.from_bytes(body[20:22], "big")
        if not 0 < length <= MAX_UPDATE_CHUNK:
            self._update_error(offset, f"length {length} not in 1-{MAX_UPDATE_CHUNK}")
            return
        # The reply is ten times the request: a node (or noise that passes the CRC) asking
        # faster than the line can carry waits for the port to drain; it asks again in 1 s.
        if self.port.write_buffer_size() > DEFAULT_HIGH_WATER:
            self.counters.update_reads_dropped += 1
            return
        image = self._firmware.data_by_md5(body[:16]) if self._firmware is not None else None
        if image is None:
            self._update_error(offset, "no image with this md5")
            return
        if offset > len(image):
            self._update_error(offset, f"offset beyond the image ({len(image)} bytes)")
            return
        self.counters.update_chunks += 1
        self._send(FrameType.UPDATE_DATA, body[16:20] + image[offset:offset + length])

    def _update_error(self, offset: int, reason: str) -> None:
        self.counters.update_errors += 1
        self._send(FrameType.UPDATE_ERROR, offset.to_bytes(4, "big") + reason.encode())

    def _on_bad_frame(self, reason: BadFrame) -> None:
        self.counters.count_bad(reason)
        self._log_bad_frame(reason)
        if self._session is not None:
            self.counters.closed_on_error += 1
            self._end_session(ConnectionError(f"bad frame on {self.name}: {reason.value}"), tell_node=True)

    def _log_bad_frame(self, reason: BadFrame) -> None:
        self._bad_since_log += 1
        now = self._clock()
        if now - self._last_bad_log < BAD_FRAME_LOG_INTERVAL:
            return
        hint = ""
        if self.counters.frames_in == 0:
            hint = " (no good frame yet: wrong baud rate, or not a gateway node?)"
        log.warning(
            "%s: %d bad frame(s), last: %s; %d bad in all%s",
            self.name,
            self._bad_since_log,
            reason.value,
            self.counters.bad_frames,
            hint,
        )
        self._last_bad_log = now
        self._bad_since_log = 0

    # --- towards the node -----------------------------------------------------------------

    def _send(self, frame_type: FrameType, body: bytes = b"") -> None:
        wire = encode_frame(frame_type, body)
        self.counters.frames_out += 1
        self.counters.bytes_out += len(wire)
        self.port.write(wire)

    def _end_session(self, exc: Exception | None, *, tell_node: bool) -> None:
        session = self._session
        if session is None:
            return
        self._session = None
        session._closing = True
        log.info("%s: node connection ended (%s)", self.name, exc or "closed")
        if tell_node:
            self._send(FrameType.CLOSE)
        # Called directly, in order: the old connection is gone before a new OPEN's
        # connection starts, so the broker never sees a takeover between the two.
        try:
            session.protocol.connection_lost(exc)
        except Exception:
            log.exception("%s: broker failed while closing the connection", self.name)

    def _closed_by_broker(self, session: LinkTransport) -> None:
        if self._session is not session:
            return
        self._session = None
        log.info("%s: node connection closed by the broker", self.name)
        self.counters.closed_by_broker += 1
        self._send(FrameType.CLOSE)
        # The broker called close() from its own code: report the loss on the next loop
        # turn, as asyncio transports do, not from inside its call.
        asyncio.get_running_loop().call_soon(_connection_lost, session.protocol, self.name)

    def write_drained(self) -> None:
        """The port's write buffer shrank: let a paused broker write again."""
        if self._session is not None:
            self._session._check_pressure()


def _connection_lost(protocol: asyncio.BaseProtocol, name: str) -> None:
    try:
        protocol.connection_lost(None)
    except Exception:
        log.exception("%s: broker failed while closing the connection", name)


class LinkTransport(asyncio.Transport):
    """The asyncio transport the broker sees for one node connection over a serial port.

    Each write is one whole MQTT packet (the broker writes packet by packet to a transport
    whose ``get_extra_info("mqtt_packet_per_write")`` is true) and goes out in one DATA
    frame; packets larger than the node's receive limit (from its OPEN) are dropped and
    counted, as PubSubClient would drop them anyway, and would otherwise hold the line for
    seconds.
    """

    def __init__(self, link: NodeLink, protocol: asyncio.Protocol, node_max_packet: int) -> None:
        super().__init__()
        self.link = link
        self.protocol = protocol
        self.node_max_packet = node_max_packet
        self._closing = False
        self._high_water = DEFAULT_HIGH_WATER
        self._low_water = DEFAULT_HIGH_WATER // 4
        self._writing_paused = False
        self._oversize_logged = False

    # asyncio.WriteTransport

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send one whole MQTT packet in a DATA frame."""
        if self._closing:
            return
        self._send_packet(bytes(data))
        self._check_pressure()

    def writelines(self, list_of_data: Any) -> None:
        """Send whole MQTT packets, one DATA frame each."""
        if self._closing:
            return
        for data in list_of_data:
            self._send_packet(bytes(data))
        self._check_pressure()

    def _send_packet(self, packet: bytes) -> None:
        if len(packet) > self.node_max_packet:
            self.link.counters.dropped_oversize += 1
            if not self._oversize_logged:
                self._oversize_logged = True
                log.warning(
                    "%s: dropped a %d-byte packet: the node receives at most %d",
                    self.link.name,
                    len(packet),
                    self.node_max_packet,
                )
            return
        self.link._send(FrameType.DATA, packet)

    def can_write_eof(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self.link.port.write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (self._low_water, self._high_water)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._high_water = DEFAULT_HIGH_WATER if high is None else high
        self._low_water = self._high_water // 4 if low is None else low
        self._check_pressure()

    def _check_pressure(self) -> None:
        size = self.get_write_buffer_size()
        if not self._writing_paused and size > self._high_water:
            self._writing_paused = True
            self.protocol.pause_writing()
        elif self._writing_paused and size <= self._low_water:
            self._writing_paused = False
            self.protocol.resume_writing()

    # asyncio.BaseTransport

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self.link._closed_by_broker(self)

    def abort(self) -> None:
        self.close()

    def is_closing(self) -> bool:
        return self._closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return f"serial:{self.link.name}"
        if name == "serial_port":
            return self.link.name
        if name == "mqtt_packet_per_write":
            return True
        return default

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol  # type: ignore[assignment]

    # asyncio.ReadTransport. Pausing stops reading the port; frames already read in the
    # same chunk are still delivered (a few KB at most).

    def pause_reading(self) -> None:
        self.link.port.pause_reading()

    def resume_reading(self) -> None:
        self.link.port.resume_reading()

    def is_reading(self) -> bool:
        return not self._closing
