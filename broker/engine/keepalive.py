"""Keepalive and the CONNECT timeout: connections that went quiet are closed.

:class:`Keepalive` is part of :class:`~broker.engine.engine.Engine`; the I/O shell calls
``Engine.tick`` about once a second, which calls ``check_timeouts``. A client is given one
and a half times its keepalive (MQTT-3.1.2-24); a new connection ``connect_timeout`` seconds,
counted from TCP accept, to send CONNECT.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .addresses import peer_host

if TYPE_CHECKING:
    from .engine import Engine


class Keepalive:
    """Timeout rules of the engine (mixed into Engine)."""

    def check_timeouts(self: Engine, now: float) -> None:
        """Close connections past their keepalive or their CONNECT timeout."""
        connect_timeout = self.config.connect_timeout
        for conn in list(self.connections):
            if conn.closed:
                continue
            if conn.held is not None:
                continue  # we stopped reading it: its silence is ours
            if conn.session is None:
                if now - conn.created > connect_timeout:
                    self.admission.expired(peer_host(conn.peer))
                    conn.close()
            elif conn.keepalive and now - conn.last_rx > conn.keepalive * 1.5:
                self.log.info("client %s keepalive expired", conn.info.client_id)
                conn.disconnect(0x8D, "keep alive timeout")
