"""Topic names and topic filters: validation, shared-subscription parsing, matching."""

from __future__ import annotations

MAX_TOPIC_BYTES = 65535


def valid_topic_name(topic: str) -> bool:
    """A PUBLISH topic: non-empty, no wildcards (NUL and UTF-8 are checked by the codec)."""
    return bool(topic) and "+" not in topic and "#" not in topic


def valid_topic_filter(topic_filter: str) -> bool:
    """A SUBSCRIBE filter: ``+`` fills a whole level, ``#`` a whole last level."""
    if not topic_filter:
        return False
    if "+" not in topic_filter and "#" not in topic_filter:
        return True
    levels = topic_filter.split("/")
    last = len(levels) - 1
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != last):
            return False
        if "+" in level and level != "+":
            return False
    return True


def split_shared(topic_filter: str) -> tuple[str | None, str]:
    """Split ``$share/<group>/<filter>`` into (group, filter); (None, filter) otherwise.

    Raises ValueError for a malformed shared filter.
    """
    if not topic_filter.startswith("$share/"):
        return None, topic_filter
    parts = topic_filter.split("/", 2)
    if len(parts) < 3 or not parts[1] or "+" in parts[1] or "#" in parts[1]:
        raise ValueError(f"malformed shared subscription {topic_filter!r}")
    return parts[1], parts[2]


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether ``topic`` matches ``topic_filter`` (``$`` topics escape leading wildcards)."""
    if topic_filter == topic:
        return True
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    f_levels = topic_filter.split("/")
    t_levels = topic.split("/")
    for i, f in enumerate(f_levels):
        if f == "#":
            return True
        if i >= len(t_levels):
            return False
        if f != "+" and f != t_levels[i]:
            return False
    return len(f_levels) == len(t_levels)
