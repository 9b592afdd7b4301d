"""Retained messages: kept in a trie of topic levels so a filter finds them without a scan,
and sent to a new subscription (:class:`RetainedOnSubscribe`, part of the Engine).

``route`` stores a retained message (an empty payload clears the topic); SUBSCRIBE and the
in-process API call ``send_retained`` for each new subscription that asks for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from .message import Message

if TYPE_CHECKING:
    from .engine import Engine
    from .session import Session
    from .subscriptions import Subscription


class _Node:
    __slots__ = ("children", "message")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.message: Message | None = None


class RetainedStore:
    """The last retained message of every topic."""

    def __init__(self) -> None:
        self._root = _Node()
        self.count = 0
        self.bytes = 0

    def set(self, message: Message) -> None:
        """Store ``message`` for its topic; an empty payload clears the topic."""
        levels = message.topic.split("/")
        if not message.payload:
            self._clear(levels)
            return
        node = self._root
        for level in levels:
            child = node.children.get(level)
            if child is None:
                child = node.children[level] = _Node()
            node = child
        if node.message is None:
            self.count += 1
        else:
            self.bytes -= len(node.message.payload)
        self.bytes += len(message.payload)
        node.message = message

    def _clear(self, levels: list[str]) -> None:
        path = [self._root]
        node = self._root
        for level in levels:
            node = node.children.get(level)  # type: ignore[assignment]
            if node is None:
                return
            path.append(node)
        if node.message is None:
            return
        self.count -= 1
        self.bytes -= len(node.message.payload)
        node.message = None
        for depth in range(len(levels), 0, -1):
            n = path[depth]
            if n.children or n.message is not None:
                break
            del path[depth - 1].children[levels[depth - 1]]

    def get(self, topic: str) -> Message | None:
        node = self._root
        for level in topic.split("/"):
            node = node.children.get(level)  # type: ignore[assignment]
            if node is None:
                return None
        return node.message

    def match(self, filter_levels: list[str]) -> Iterator[Message]:
        """Retained messages whose topic matches the filter given as its levels."""
        n = len(filter_levels)
        stack = [(self._root, 0)]
        while stack:
            node, i = stack.pop()
            if i == n:
                if node.message is not None:
                    yield node.message
                continue
            level = filter_levels[i]
            if level == "#":
                yield from self._subtree(node, skip_dollar=i == 0)
            elif level == "+":
                for name, child in node.children.items():
                    if i == 0 and name.startswith("$"):
                        continue
                    stack.append((child, i + 1))
            else:
                child = node.children.get(level)
                if child is not None:
                    stack.append((child, i + 1))

    def _subtree(self, node: _Node, skip_dollar: bool) -> Iterator[Message]:
        # "a/#" matches "a" itself as well as everything below it.
        if node.message is not None and not skip_dollar:
            yield node.message
        stack = [
            child
            for name, child in node.children.items()
            if not (skip_dollar and name.startswith("$"))
        ]
        while stack:
            n = stack.pop()
            if n.message is not None:
                yield n.message
            stack.extend(n.children.values())

    def __iter__(self) -> Iterator[Message]:
        return self._subtree(self._root, skip_dollar=False)


class RetainedOnSubscribe:
    """Retained messages for a new subscription (mixed into Engine)."""

    def send_retained(self: Engine, session: Session, sub: Subscription) -> None:
        """Retained messages matching a new subscription, flagged retained."""
        ids = (sub.identifier,) if sub.identifier else ()
        now = self.clock()
        for msg in list(self.retained.match(sub.filter_levels)):
            if msg.expires_at is not None and msg.expires_at <= now:
                continue
            if not self.may_read(session, msg.topic):
                continue
            self.deliver(session, msg, min(sub.options.qos, msg.qos), True, ids)
