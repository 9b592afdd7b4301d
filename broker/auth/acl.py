"""Mosquitto-compatible ACL files and the access decisions they make.

The format (see README, section Security)::

    # topics before any 'user' line apply to clients without a username
    topic read home/#

    user alice
    topic readwrite home/#
    topic deny home/alarm/code

    # patterns apply to every client; %u is the username, %c the client id,
    # each only when it is a whole topic level
    pattern write nodes/%c/status

Decisions follow Mosquitto: a client's rules are its own ``topic`` lines (or the anonymous
ones) plus every ``pattern`` line; a ``deny`` rule that matches wins over any grant; otherwise
access needs a rule that grants it; no rule means no access.

Subscriptions are checked too (Mosquitto does not): a filter is refused when a ``deny`` rule
covers all of it, or when no readable rule overlaps it. A filter that overlaps only part of
what the client may read (``#`` for a client allowed ``home/#``) is accepted; delivery then
checks every message with :meth:`Acl.can_read`, so nothing outside the grants leaks.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Flag

from broker.auth.filters import covers, overlaps, split_filter
from broker.engine.topics import split_shared, topic_matches, valid_topic_filter


class Access(Flag):
    """What a rule grants; DENY is its own kind and takes precedence."""

    NONE = 0
    READ = 1
    WRITE = 2
    READWRITE = READ | WRITE
    DENY = 4


_ACCESS_WORDS = {
    "read": Access.READ,
    "write": Access.WRITE,
    "readwrite": Access.READWRITE,
    "deny": Access.DENY,
}


class AclFileError(ValueError):
    """An ACL file that cannot be parsed; the message names the file and line."""


@dataclass(frozen=True)
class Rule:
    """One ``topic`` or ``pattern`` line."""

    access: Access
    text: str  # the topic filter as written
    is_pattern: bool = False

    def resolve(self, username: str | None, client_id: str) -> str | None:
        """The filter for this client (patterns substituted), or None if it cannot apply.

        A pattern never applies when the value it needs is missing or contains '/', '+' or
        '#': a client id of '#' must not turn ``pattern read %c/#`` into a grant on '#/#'.
        """
        if not self.is_pattern:
            return self.text
        out = []
        for level in split_filter(self.text):
            if level == "%u":
                value = username
            elif level == "%c":
                value = client_id
            else:
                out.append(level)
                continue
            if not value or any(ch in value for ch in "/+#"):
                return None
            out.append(value)
        return "/".join(out)


@dataclass(frozen=True)
class ClientRules:
    """The filters that apply to one client, by what they do (patterns substituted)."""

    deny: tuple[str, ...]
    read: tuple[str, ...]
    write: tuple[str, ...]


_CACHE_LIMIT = 4096  # clients whose compiled rules are kept; more than a house has


@dataclass
class Acl:
    """A parsed ACL file. Treated as immutable once parsed: a reload builds a new one."""

    anonymous: list[Rule] = field(default_factory=list)
    users: dict[str, list[Rule]] = field(default_factory=dict)
    patterns: list[Rule] = field(default_factory=list)
    # Rules per (username, client id), compiled on first use: every delivery asks can_read,
    # and re-substituting the patterns each time would dominate its cost.
    _compiled: dict[tuple[str | None, str], ClientRules] = field(
        default_factory=dict, repr=False, compare=False
    )

    # -- parsing -----------------------------------------------------------------------

    @classmethod
    def parse(cls, lines: Iterable[str], source: str = "<acl file>") -> Acl:
        """Parse ACL lines; errors name ``source`` and the line number."""
        acl = cls()
        current: list[Rule] = acl.anonymous
        for number, raw in enumerate(lines, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            keyword, _, rest = line.partition(" ")
            rest = rest.strip()
            where = f"{source}:{number}"
            if keyword == "user":
                if not rest:
                    raise AclFileError(f"{where}: 'user' needs a username")
                current = acl.users.setdefault(rest, [])
            elif keyword in ("topic", "pattern"):
                rule = _parse_rule(rest, is_pattern=keyword == "pattern", where=where)
                (acl.patterns if rule.is_pattern else current).append(rule)
            else:
                raise AclFileError(
                    f"{where}: unknown keyword {keyword!r} (expected topic, pattern or user)"
                )
        return acl

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Acl:
        """Read and parse the ACL file at ``path``."""
        with open(path, encoding="utf-8") as fh:
            return cls.parse(fh, source=str(path))

    # -- decisions ---------------------------------------------------------------------

    def rules_for(self, username: str | None, client_id: str) -> list[tuple[Access, str]]:
        """(access, topic filter) of every rule that applies to this client."""
        own = self.users.get(username, []) if username is not None else self.anonymous
        out = [(rule.access, rule.text) for rule in own]
        for rule in self.patterns:
            text = rule.resolve(username, client_id)
            if text is not None:
                out.append((rule.access, text))
        return out

    def client_rules(self, username: str | None, client_id: str) -> ClientRules:
        """This client's rules grouped by access, cached."""
        key = (username, client_id)
        rules = self._compiled.get(key)
        if rules is None:
            found = self.rules_for(username, client_id)
            rules = ClientRules(
                deny=tuple(f for a, f in found if a is Access.DENY),
                read=tuple(f for a, f in found if a & Access.READ),
                write=tuple(f for a, f in found if a & Access.WRITE),
            )
            if len(self._compiled) >= _CACHE_LIMIT:
                self._compiled.clear()  # client ids churn; start over rather than grow
            self._compiled[key] = rules
        return rules

    def allows(self, username: str | None, client_id: str, topic: str, want: Access) -> bool:
        """May this client read (``Access.READ``) or write (``Access.WRITE``) ``topic``?"""
        rules = self.client_rules(username, client_id)
        if any(topic_matches(f, topic) for f in rules.deny):
            return False
        grants = rules.read if want is Access.READ else rules.write
        return any(topic_matches(f, topic) for f in grants)

    def can_read(self, username: str | None, client_id: str, topic: str) -> bool:
        """May this client receive messages published on ``topic``?"""
        return self.allows(username, client_id, topic, Access.READ)

    def can_write(self, username: str | None, client_id: str, topic: str) -> bool:
        """May this client publish on ``topic``?"""
        return self.allows(username, client_id, topic, Access.WRITE)

    def can_subscribe(self, username: str | None, client_id: str, topic_filter: str) -> bool:
        """May this client subscribe to ``topic_filter``? (See the module docstring.)

        A shared subscription ``$share/<group>/<filter>`` is judged by its ``<filter>``.
        """
        try:
            _, topic_filter = split_shared(topic_filter)
        except ValueError:
            return False
        sub = split_filter(topic_filter)
        rules = self.client_rules(username, client_id)
        if any(covers(split_filter(f), sub) for f in rules.deny):
            return False
        return any(overlaps(split_filter(f), sub) for f in rules.read)


def _parse_rule(rest: str, *, is_pattern: bool, where: str) -> Rule:
    word, _, after = rest.partition(" ")
    access = _ACCESS_WORDS.get(word)
    if access is None:
        # No access word: the whole rest is the topic and the access is readwrite.
        access, topic = Access.READWRITE, rest
    else:
        topic = after.strip()
    if not topic:
        raise AclFileError(f"{where}: missing topic filter")
    if not valid_topic_filter(topic):
        raise AclFileError(f"{where}: invalid topic filter {topic!r}")
    return Rule(access, topic, is_pattern)
