"""Stream framing and dispatch: bytes in, packet objects out, and packet objects to bytes.

Sans-IO: :class:`Decoder` is fed whatever chunks the transport delivers and returns the
complete packets they finish; it never blocks and holds at most one partial packet.
"""

from __future__ import annotations

from collections.abc import Callable

from . import connect, control, publish, subscribe
from .packets import (
    Packet,
    Puback,
    Pubcomp,
    Pubrec,
    Pubrel,
)
from .wire import MalformedPacket, MQTTError, PacketTooLarge, Reader

Decode = Callable[[int, Reader, int], Packet]

_DECODERS: dict[int, Decode] = {
    1: connect.decode_connect,
    2: connect.decode_connack,
    3: publish.decode_publish,
    4: publish.ack_decoder(Puback),
    5: publish.ack_decoder(Pubrec),
    6: publish.ack_decoder(Pubrel),
    7: publish.ack_decoder(Pubcomp),
    8: subscribe.decode_subscribe,
    9: subscribe.decode_suback,
    10: subscribe.decode_unsubscribe,
    11: subscribe.decode_unsuback,
    12: control.decode_pingreq,
    13: control.decode_pingresp,
    14: control.decode_disconnect,
    15: control.decode_auth,
}

_ENCODERS: dict[int, Callable[[Packet, int], bytes]] = {
    1: connect.encode_connect,
    2: connect.encode_connack,
    3: publish.encode_publish,
    4: publish.encode_ack,
    5: publish.encode_ack,
    6: publish.encode_ack,
    7: publish.encode_ack,
    8: subscribe.encode_subscribe,
    9: subscribe.encode_suback,
    10: subscribe.encode_unsubscribe,
    11: subscribe.encode_unsuback,
    12: control.encode_pingreq,
    13: control.encode_pingresp,
    14: control.encode_disconnect,
    15: control.encode_auth,
}

DEFAULT_MAX_PACKET_SIZE = 268_435_460


def encode(packet: Packet, version: int) -> bytes:
    """Encode ``packet`` for a connection speaking protocol level ``version`` (3, 4 or 5)."""
    return _ENCODERS[packet.type](packet, version)


class Decoder:
    """Incremental decoder for one connection's incoming byte stream.

    ``version`` is 0 until a CONNECT (server side) fixes it; a client sets it up front.
    ``max_packet_size`` bounds the whole packet: a larger announced length fails at once,
    before its body is buffered. With ``raw`` true, :meth:`feed` returns each complete
    packet's bytes instead of decoding it (for a relay that carries whole packets, such as
    the serial link's TCP relay).
    """

    __slots__ = ("_buf", "version", "max_packet_size", "error", "_partial", "_raw")

    def __init__(
        self,
        version: int = 0,
        max_packet_size: int = DEFAULT_MAX_PACKET_SIZE,
        *,
        raw: bool = False,
    ) -> None:
        self._buf = bytearray()
        self.version = version
        self.max_packet_size = max_packet_size
        self._raw = raw
        #: The violation that stopped decoding; set once, after which feed() returns nothing.
        self.error: MQTTError | None = None
        self._partial: list[Packet] = []

    def buffered(self) -> int:
        """Bytes held for a packet not yet complete."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Packet]:
        """Add ``data`` and return every packet it completes, in order (their bytes when
        ``raw``).

        Bad input does not raise: the packets before it are returned and ``error`` holds the
        violation (an :class:`MQTTError`), so the caller handles what arrived intact first.
        """
        if self.error is not None:
            return []
        try:
            return self._feed(data)
        except MQTTError as exc:
            self.error = exc
            self._buf.clear()
            return self._partial

    def _feed(self, data: bytes) -> list[Packet]:
        buf = self._buf
        if buf:
            buf += data
            view = buf
        else:
            view = data
        out: list[Packet] = []
        self._partial = out
        pos = 0
        end = len(view)
        decoders = _DECODERS
        max_size = self.max_packet_size
        raw = self._raw
        while end - pos >= 2:
            first = view[pos]
            # Remaining length: up to four bytes, the last without its top bit.
            length = 0
            shift = 0
            i = pos + 1
            complete = False
            while i < end:
                byte = view[i]
                i += 1
                length |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    complete = True
                    break
                shift += 7
                if shift > 21:
                    raise MalformedPacket("remaining length longer than 4 bytes")
            if not complete:
                break
            total = i - pos + length
            if total > max_size:
                raise PacketTooLarge(f"packet of {total} bytes exceeds the maximum {max_size}")
            if end - i < length:
                break
            if raw:
                out.append(bytes(view[pos : i + length]))  # type: ignore[arg-type]
                pos = i + length
                continue
            ptype = first >> 4
            decode = decoders.get(ptype)
            if decode is None:
                raise MalformedPacket("packet type 0 is reserved")
            packet = decode(first & 0x0F, Reader(view, i, i + length), self.version)
            if ptype == 1:
                self.version = packet.protocol_level  # type: ignore[union-attr]
            out.append(packet)
            pos = i + length
        if pos:
            if buf:
                del buf[:pos]
            else:
                buf += data[pos:]
        elif not buf:
            buf += data
        return out
