"""What the serial bridge counts per port, for logs, tests and $SYS-style statistics."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from .framing import BadFrame


@dataclass
class PortCounters:
    """Counters of one serial port; they survive unplugging, so totals span hot-plugs."""

    bytes_in: int = 0
    bytes_out: int = 0
    frames_in: int = 0
    frames_out: int = 0
    bad_crc: int = 0  # noise, a half frame, a wrong baud rate
    bad_cobs: int = 0
    too_long: int = 0  # a segment longer than any frame: a flood or garbage
    too_short: int = 0
    stalled: int = 0  # a frame that stopped mid-way: noise on an idle line, a cut cable
    unknown_frames: int = 0  # good CRC, unknown type or version
    stray_data: int = 0  # DATA outside a connection (answered with CLOSE)
    connections: int = 0  # MQTT connections opened over this port
    node_resets: int = 0  # OPEN while a connection was open: the node rebooted
    closed_by_node: int = 0
    closed_by_broker: int = 0
    closed_on_error: int = 0  # a bad frame ended the connection
    dropped_oversize: int = 0  # packets to the node larger than its receive buffer
    port_opens: int = 0
    port_losses: int = 0  # unplugged or failed while open
    update_chunks: int = 0  # firmware image chunks sent (UPDATE_DATA)
    update_errors: int = 0  # UPDATE_READs answered with UPDATE_ERROR
    update_reads_dropped: int = 0  # UPDATE_READs left unanswered: the port's buffer was full

    def count_bad(self, reason: BadFrame) -> None:
        attr = _BAD_FRAME_COUNTER[reason]
        setattr(self, attr, getattr(self, attr) + 1)

    @property
    def bad_frames(self) -> int:
        return self.bad_crc + self.bad_cobs + self.too_long + self.too_short + self.stalled

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def add(self, other: PortCounters) -> None:
        """Adds ``other`` into this one (for totals over all ports)."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


_BAD_FRAME_COUNTER = {
    BadFrame.CRC: "bad_crc",
    BadFrame.COBS: "bad_cobs",
    BadFrame.TOO_LONG: "too_long",
    BadFrame.TOO_SHORT: "too_short",
    BadFrame.STALLED: "stalled",
}
