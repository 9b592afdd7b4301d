"""Relations between two MQTT topic filters, as ACL decisions need them.

The broker's ``broker.engine.topics.topic_matches`` answers "does this topic match this
filter"; an ACL also has to compare a granted filter with a *subscription* filter: does the
grant cover everything the subscription can match (``covers``), or at least some of it
(``overlaps``)?

Topics starting with '$' (``$SYS/...``) are not matched by a filter whose first level is a
wildcard (MQTT 5.0 §4.7.2), so ``topic read #`` does not grant ``$SYS``.
"""

from __future__ import annotations

from collections.abc import Sequence

Levels = Sequence[str]


def split_filter(text: str) -> tuple[str, ...]:
    """Split a topic or filter into its levels ('a//b' has an empty middle level)."""
    return tuple(text.split("/"))


def _dollar_mismatch(a: Levels, b: Levels) -> bool:
    """True when one side is a '$' topic and the other starts with a wildcard there."""
    a0, b0 = a[0], b[0]
    return (a0.startswith("$") and b0 in ("+", "#")) or (b0.startswith("$") and a0 in ("+", "#"))


def covers(grant: Levels, sub: Levels) -> bool:
    """True when every topic that ``sub`` matches is matched by ``grant``."""
    if _dollar_mismatch(grant, sub):
        return False
    for i, g in enumerate(grant):
        if g == "#":
            return True  # matches the rest, however long, including nothing
        if i >= len(sub):
            return False
        s = sub[i]
        if s == "#":
            return False  # sub reaches arbitrarily deep, grant does not
        if g != "+" and g != s:
            return False  # a literal grant level only covers the same literal
    return len(grant) == len(sub)


def overlaps(grant: Levels, sub: Levels) -> bool:
    """True when at least one topic is matched by both filters."""
    if _dollar_mismatch(grant, sub):
        return False
    for i in range(max(len(grant), len(sub))):
        g = grant[i] if i < len(grant) else None
        s = sub[i] if i < len(sub) else None
        if g == "#" or s == "#":
            return True
        if g is None or s is None:
            return False
        if g != "+" and s != "+" and g != s:
            return False
    return True
