"""One client connection as the engine sees it: bytes in, bytes out, no sockets.

The I/O shell calls :meth:`Connection.data_received` with whatever arrived and
:meth:`Connection.connection_lost` when the transport is gone. Output accumulates in
``out``, one whole encoded packet per item (a serial link sends each in its own frame);
the first append calls ``wake(conn)`` so the shell can flush once per loop turn.
``closed`` tells the shell to close the transport after flushing.

``needs`` says what the queued output waits for: :data:`NEEDS_COMMIT` when a packet in it
promises that something is stored (a PUBACK or PUBREC accepting a message, a QoS 2
PUBLISH, DISCONNECT), :data:`NEEDS_SESSION_COMMIT` when one reports a change of the
session's own stored state (SUBACK, UNSUBACK, PUBREL, PUBCOMP). The store holds such output
back until its commit (broker.store.commit); the engine says so as it queues each packet,
so nobody parses the output again to find out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..protocol import reasons
from ..protocol.codec import Decoder, encode
from ..protocol.connect import UnsupportedProtocolVersion
from ..protocol.packets import MQTT5, Connack, Disconnect, Packet, Will
from ..protocol.wire import MQTTError
from .policy import ClientInfo

if TYPE_CHECKING:
    from .engine import Engine
    from .session import Session

#: Bits of :attr:`Connection.needs`.
NEEDS_COMMIT = 1
NEEDS_SESSION_COMMIT = 2


def packet_needs(packet: Packet) -> int:
    """What a packet the broker sends waits for: nothing for CONNACK, PINGRESP, QoS 0/1
    PUBLISH and a PUBACK/PUBREC refusing its message (reason 0x80 or above promises
    nothing); the session's commit for SUBACK, UNSUBACK, PUBREL and PUBCOMP; the commit
    for everything else."""
    ptype = packet.type
    if ptype == 3:
        return NEEDS_COMMIT if packet.qos == 2 else 0  # type: ignore[attr-defined]
    if ptype == 4 or ptype == 5:
        return NEEDS_COMMIT if packet.reason_code < 0x80 else 0  # type: ignore[attr-defined]
    if ptype == 2 or ptype == 13:
        return 0
    if ptype in (6, 7, 9, 11):
        return NEEDS_SESSION_COMMIT
    return NEEDS_COMMIT


class Connection:
    """Per-connection protocol state (the session outlives it)."""

    __slots__ = (
        "engine",
        "decoder",
        "version",
        "session",
        "info",
        "out",
        "needs",
        "closed",
        "wake",
        "keepalive",
        "last_rx",
        "created",
        "aliases_in",
        "aliases_out",
        "alias_out_max",
        "send_quota",
        "max_out_packet",
        "paused",
        "will",
        "clean_exit",
        "peer",
        "listener",
        "problem_info",
        "shell",
        "framed",
        "held",
        "bridge",
        "backlog",
        "reading",
        "check_off_loop",
        "__weakref__",
    )

    def __init__(self, engine: Engine, peer: str = "", listener: str = "default") -> None:
        self.engine = engine
        self.decoder = Decoder(max_packet_size=engine.config.max_packet_size)
        self.version = 0
        self.session: Session | None = None
        self.info = ClientInfo("", None, peer, listener)
        self.out: list[bytes] = []
        self.needs = 0
        self.closed = False
        self.wake: Callable[[Connection], None] | None = None
        self.keepalive = 0
        now = engine.clock()
        self.last_rx = now
        self.created = now
        self.aliases_in: dict[int, str] = {}
        self.aliases_out: dict[str, int] = {}
        self.alias_out_max = 0
        self.send_quota = engine.config.max_inflight
        self.max_out_packet = 0
        self.paused = False
        self.will: Will | None = None
        self.clean_exit = False
        self.peer = peer
        self.listener = listener
        self.problem_info = True
        #: Opaque to the engine: the I/O shell keeps its transport here.
        self.shell: object = None
        #: Set by the shell when its transport frames each write (the serial link): the
        #: packets in ``out`` are then written one by one, never joined.
        self.framed = False
        #: A PUBLISH waiting for queue room (back-pressure); packets after it wait in backlog.
        self.held: Packet | None = None
        #: A 3.x broker that connected with the bridge bit (see Connect.bridge).
        self.bridge = False
        self.backlog: list[Packet] = []
        #: Whether the shell should read from the transport.
        self.reading = True
        #: Set by a shell that can run ``job()`` (a password check) off the event loop;
        #: it then sets ``info.password_ok`` and calls :meth:`release`.
        self.check_off_loop: Callable[[Callable[[], bool]], None] | None = None

    # --- input -----------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """Feed bytes from the transport; handles every packet they complete."""
        if self.closed:
            return
        engine = self.engine
        engine.stats.bytes_received += len(data)
        self.last_rx = engine.clock()
        decoder = self.decoder
        if self.session is None and not decoder.buffered() and data[0] & 0xF0 != 0x10:
            # MQTT-3.1.0-1: the first byte already tells the first packet is not CONNECT;
            # close a stray client (HTTP, TLS, a port scan) without waiting for a whole
            # packet or the CONNECT timeout.
            self.violation(MQTTError("first packet is not CONNECT", reasons.PROTOCOL_ERROR))
            return
        packets = decoder.feed(data)
        if self.held is not None:
            self.backlog.extend(packets)
        else:
            self._dispatch(packets)
        if decoder.error is not None and not self.closed and self.held is None:
            self.violation(decoder.error)

    def _dispatch(self, packets: list[Packet]) -> None:
        engine = self.engine
        handlers = engine.handlers
        for i, packet in enumerate(packets):
            if self.closed:
                return
            if self.held is not None:
                self.backlog.extend(packets[i:])
                return
            if self.session is None and packet.type != 1:
                self.violation(MQTTError("first packet is not CONNECT", reasons.PROTOCOL_ERROR))
                return
            try:
                handlers[packet.type](engine, self, packet)
            except MQTTError as exc:
                self.violation(exc)
                return

    def hold(self, packet: Packet) -> None:
        """Keep ``packet`` for later and ask the shell to stop reading."""
        self.held = packet
        self.reading = False
        if self.wake is not None:
            self.wake(self)

    def release(self) -> None:
        """Retry the held packet, then the backlog; read again once nothing is held."""
        packet, self.held = self.held, None
        backlog, self.backlog = self.backlog, []
        if packet is not None:
            self._dispatch([packet, *backlog])
        if self.held is None and not self.closed:
            if self.decoder.error is not None:
                self.violation(self.decoder.error)
                return
            self.reading = True
            if self.wake is not None:
                self.wake(self)

    def violation(self, exc: MQTTError) -> None:
        """Bad input: tell a 5.0 client why (where the spec lets us) and close."""
        engine = self.engine
        engine.stats.protocol_errors += 1
        engine.log.info("closing %s (%s): %s", self.info.client_id or self.peer, self.peer, exc)
        if isinstance(exc, UnsupportedProtocolVersion):
            code = exc.reason_code
            level = MQTT5 if exc.level > MQTT5 else 4
            self.send_packet(Connack(False, code), level)
        elif self.session is not None and self.version == MQTT5:
            self.send_packet(Disconnect(exc.reason_code, self._reason(str(exc))))
        elif self.session is None and self.decoder.version == MQTT5 and exc.reason_code != 0x82:
            self.send_packet(Connack(False, exc.reason_code), MQTT5)
        self.close()

    def _reason(self, text: str) -> dict:
        return {"reason_string": text[:200]} if self.problem_info else {}

    # --- output ----------------------------------------------------------------------

    def send(self, data: bytes, needs: int = 0) -> None:
        """Queue one encoded packet for the transport; ``needs``: see the module docstring
        (0 for a packet that promises nothing)."""
        out = self.out
        out.append(data)
        if needs:
            self.needs |= needs
        self.engine.stats.bytes_sent += len(data)
        if len(out) == 1 and self.wake is not None:
            self.wake(self)

    def send_packet(self, packet: Packet, version: int | None = None) -> None:
        """Encode ``packet`` (for this connection's protocol version unless given) and
        queue it with what it waits for."""
        self.send(encode(packet, version or self.version), packet_needs(packet))

    def take_output(self) -> list[bytes]:
        """The queued packets, handed to the shell (or the store); ``out`` starts empty."""
        out = self.out
        self.out = []
        self.needs = 0
        return out

    def disconnect(self, reason_code: int, text: str = "") -> None:
        """Server-initiated end: DISCONNECT with a reason for 5.0 clients, then close."""
        if self.version == MQTT5 and self.session is not None and not self.closed:
            self.send_packet(Disconnect(reason_code, self._reason(text) if text else {}))
        self.close()

    def close(self) -> None:
        """Stop reading; the shell closes the transport once ``out`` is flushed."""
        if self.closed:
            return
        self.closed = True
        self.engine.connection_closed(self)
        if self.wake is not None:
            self.wake(self)

    def connection_lost(self) -> None:
        """The transport is gone (peer closed, network error, or after our close)."""
        if not self.closed:
            self.closed = True
            self.engine.connection_closed(self)
        self.take_output()

    # --- flow control from the shell ---------------------------------------------------

    def pause_writing(self) -> None:
        """The transport's buffer is full: queue further messages in the session."""
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.session is not None:
            self.engine.drain(self.session)
