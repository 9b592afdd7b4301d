"""Names as they appear in topics: lowercase a-z, 0-9 and underscore.

Users write room and sensor names the way they say them ("Living Room", "Door-Bell");
topics need one stable spelling, and displays (Home Assistant) want the spoken one back.
"""

from __future__ import annotations

import re

_NOT_ALLOWED = re.compile(r"[^a-z0-9]+")


def normalize(name: str) -> str:
    """Return ``name`` as a topic segment: lowercase, runs of other characters become one
    ``_``, no leading or trailing ``_``. May return ``""`` (the caller reports that)."""
    return _NOT_ALLOWED.sub("_", name.strip().lower()).strip("_")


def title(name: str) -> str:
    """A display name: ``"living_room"`` -> ``"Living room"``; names that already carry
    capitals or spaces are kept as the user wrote them."""
    if name != name.lower() or " " in name:
        return name.strip()
    words = normalize(name).replace("_", " ")
    return words[:1].upper() + words[1:]
