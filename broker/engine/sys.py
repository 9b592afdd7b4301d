"""$SYS/broker/...: one registry of the broker's own topics, published retained.

The engine's counters are one source; other parts plug theirs in (the store its commits and
state, each bridge its connection state and backlog) with :meth:`SysTopics.add_source`. The
I/O shell calls :meth:`SysTopics.publish` every ``sys_interval`` seconds; a part whose state
changes calls it at once. A topic is routed only when its value changed, so subscribers to
``$SYS/#`` see changes, not a repeat of every value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from .. import __version__
from .message import Message
from .session import LocalSession

if TYPE_CHECKING:
    from .engine import Engine

SYS_PREFIX = "$SYS/broker/"

#: A source of $SYS values: (key below $SYS/broker/, value) pairs, read at each publish.
Source = Callable[[], Iterable[tuple[str, object]]]


class SysTopics:
    """The $SYS registry of one engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sources: list[Source] = [self._engine_values]

    def add_source(self, source: Source) -> None:
        """Publish ``source``'s values with the broker's own from now on."""
        self._sources.append(source)

    def remove_source(self, source: Source) -> None:
        """Stop reading ``source`` (its last values stay retained)."""
        if source in self._sources:
            self._sources.remove(source)

    def messages(self) -> list[tuple[str, str]]:
        """Every $SYS topic and its current value."""
        return [message for source in self._sources for message in _messages(source)]

    def publish(self, source: Source | None = None) -> None:
        """Route, retained, every value that changed since it was last published (of one
        ``source`` only, when given: a part whose state just changed)."""
        engine = self._engine
        messages = self.messages() if source is None else _messages(source)
        for topic, value in messages:
            payload = value.encode()
            existing = engine.retained.get(topic)
            if existing is not None and existing.payload == payload:
                continue
            engine.route(Message(topic, payload, 0, True))

    def _engine_values(self) -> Iterable[tuple[str, object]]:
        engine = self._engine
        s = engine.stats
        uptime = int(engine.clock() - s.started_at)
        persistent = sum(1 for x in engine.sessions.values() if not isinstance(x, LocalSession))
        yield from (
            ("version", f"sensor-gateway broker {__version__}"),
            ("uptime", f"{uptime} seconds"),
            ("clients/connected", s.clients_connected),
            ("clients/total", persistent),
            ("clients/disconnected", persistent - s.clients_connected),
            ("clients/maximum", s.clients_maximum),
            ("connections/total", s.connections_total),
            ("messages/received", s.messages_received),
            ("messages/sent", s.messages_sent),
            ("bytes/received", s.bytes_received),
            ("bytes/sent", s.bytes_sent),
            ("publish/messages/dropped", s.publish_dropped),
            ("publish/messages/denied", s.publish_denied),
            ("publish/messages/refused", s.publish_refused),
            ("publish/messages/held", len(engine.held)),
            ("subscriptions/denied", s.subscribe_denied),
            ("retained messages/count", engine.retained.count),
            ("subscriptions/count", engine.subscriptions.count),
            ("protocol errors", s.protocol_errors),
        )
        for listener, count in s.per_listener.items():
            yield f"listeners/{listener}/clients/connected", count


def _messages(source: Source) -> list[tuple[str, str]]:
    return [
        (SYS_PREFIX + key, "unknown" if value is None else str(value)) for key, value in source()
    ]
