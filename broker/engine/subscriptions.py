"""The subscription trie: which sessions want a topic, in one walk of its levels."""

from __future__ import annotations

from typing import Any

from ..protocol.packets import SubscriptionOptions
from .topics import split_shared


class Subscription:
    """One session's subscription to one filter (shared or not)."""

    __slots__ = ("session", "topic_filter", "options", "identifier", "group", "filter_levels")

    def __init__(
        self,
        session: Any,
        topic_filter: str,
        options: SubscriptionOptions,
        identifier: int | None = None,
    ) -> None:
        self.session = session
        self.topic_filter = topic_filter  # as subscribed, $share/ prefix included
        self.options = options
        self.identifier = identifier
        self.group, plain = split_shared(topic_filter)
        self.filter_levels = plain.split("/")


class SharedGroup:
    """Members of one ``$share/<group>/<filter>``; each message goes to one of them."""

    __slots__ = ("members", "_next")

    def __init__(self) -> None:
        self.members: dict[Any, Subscription] = {}
        self._next = 0

    def pick(self) -> Subscription | None:
        """Round-robin over members, preferring those connected right now."""
        subs = list(self.members.values())
        if not subs:
            return None
        n = len(subs)
        for k in range(n):
            sub = subs[(self._next + k) % n]
            if sub.session.online:
                self._next = (self._next + k + 1) % n
                return sub
        sub = subs[self._next % n]
        self._next = (self._next + 1) % n
        return sub


class _Node:
    __slots__ = ("children", "subs", "shared")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.subs: dict[Any, Subscription] = {}
        self.shared: dict[str, SharedGroup] = {}

    def empty(self) -> bool:
        return not (self.children or self.subs or self.shared)


Match = tuple[dict[Any, list[Subscription]], list[SharedGroup]]


class SubscriptionTree:
    """All subscriptions of the broker, matched by topic level.

    ``match`` results are cached per topic until the next change, so steady traffic on a
    fixed set of topics costs one dict lookup per message.
    """

    def __init__(self) -> None:
        self._root = _Node()
        self._cache: dict[str, Match] = {}
        self.count = 0

    def add(self, sub: Subscription) -> Subscription | None:
        """Insert ``sub``; returns the subscription it replaced for the same session and filter."""
        node = self._root
        for level in sub.filter_levels:
            child = node.children.get(level)
            if child is None:
                child = node.children[level] = _Node()
            node = child
        if sub.group is None:
            old = node.subs.get(sub.session)
            node.subs[sub.session] = sub
        else:
            group = node.shared.get(sub.group)
            if group is None:
                group = node.shared[sub.group] = SharedGroup()
            old = group.members.get(sub.session)
            group.members[sub.session] = sub
        if old is None:
            self.count += 1
        self._cache.clear()
        return old

    def remove(self, sub: Subscription) -> bool:
        """Remove the session's subscription to ``sub``'s filter; False when there was none."""
        path = [self._root]
        node = self._root
        for level in sub.filter_levels:
            node = node.children.get(level)  # type: ignore[assignment]
            if node is None:
                return False
            path.append(node)
        if sub.group is None:
            if node.subs.pop(sub.session, None) is None:
                return False
        else:
            group = node.shared.get(sub.group)
            if group is None or group.members.pop(sub.session, None) is None:
                return False
            if not group.members:
                del node.shared[sub.group]
        self.count -= 1
        self._cache.clear()
        # Prune empty branches so a subscription storm leaves no residue.
        for depth in range(len(sub.filter_levels), 0, -1):
            if path[depth].empty():
                del path[depth - 1].children[sub.filter_levels[depth - 1]]
            else:
                break
        return True

    def match(self, topic: str) -> Match:
        """Subscriptions matching ``topic``: per session (several when they overlap), and
        the shared groups (pick one member per group per message)."""
        hit = self._cache.get(topic)
        if hit is not None:
            return hit
        per_session: dict[Any, list[Subscription]] = {}
        groups: list[SharedGroup] = []
        levels = topic.split("/")
        n = len(levels)
        dollar = topic.startswith("$")

        def collect(node: _Node) -> None:
            for session, sub in node.subs.items():
                lst = per_session.get(session)
                if lst is None:
                    per_session[session] = [sub]
                else:
                    lst.append(sub)
            if node.shared:
                groups.extend(node.shared.values())

        stack = [(self._root, 0)]
        while stack:
            node, i = stack.pop()
            children = node.children
            if i == n:
                collect(node)
                hash_node = children.get("#")
                if hash_node is not None:
                    collect(hash_node)  # "a/#" also matches "a"
                continue
            if i or not dollar:
                hash_node = children.get("#")
                if hash_node is not None:
                    collect(hash_node)
                plus = children.get("+")
                if plus is not None:
                    stack.append((plus, i + 1))
            child = children.get(levels[i])
            if child is not None:
                stack.append((child, i + 1))
        result = (per_session, groups)
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[topic] = result
        return result
