"""Line numbers for keys of a TOML document.

``tomllib`` returns plain dicts without positions, but every config error must name its
line. This scanner walks the text once and records, for each table header and each
``key = value`` line, the key path it defines. Paths use list indices for arrays of tables,
exactly as the parsed document does: ``("room", "kitchen", 1, "pin")``. Keys inside inline
tables are recorded on the line of the inline table; anything not found falls back to the
nearest enclosing key that was.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

PathPart = str | int
Path = tuple[PathPart, ...]

_BARE = r"[A-Za-z0-9_-]+"
_BASIC = r'"(?:[^"\\]|\\.)*"'
_LITERAL = r"'[^']*'"
_KEY = rf"(?:{_BARE}|{_BASIC}|{_LITERAL})"
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_DOTTED})\s*\]\]?")
_ASSIGN = re.compile(rf"(?:^|[{{,])\s*({_DOTTED})\s*=")
_PART = re.compile(_KEY)


def _split(dotted: str) -> list[str]:
    parts = []
    for match in _PART.finditer(dotted):
        text = match.group(0)
        if text[0] == '"':
            try:
                text = text[1:-1].encode().decode("unicode_escape")
            except UnicodeDecodeError:  # not a key after all (inside a literal string)
                text = text[1:-1]
        elif text[0] == "'":
            text = text[1:-1]
        parts.append(text)
    return parts


def _strip_comment(line: str) -> str:
    """The line without its ``# comment`` (a ``#`` inside a string is not one)."""
    quote: str | None = None
    escaped = False
    for index, char in enumerate(line):
        if quote is None:
            if char == "#":
                return line[:index]
            if char in "\"'":
                quote = char
        elif escaped:
            escaped = False
        elif char == "\\" and quote == '"':
            escaped = True
        elif char == quote:
            quote = None
    return line


class KeyLines:
    """Maps key paths of one TOML text to 1-based line numbers."""

    def __init__(self, text: str) -> None:
        self._lines: dict[Path, int] = {}
        self._array_index: dict[Path, int] = {}
        self._scan(text)

    def _resolve(self, parts: Sequence[str]) -> Path:
        """Insert the current index of every array of tables the header passes through."""
        path: list[PathPart] = []
        for part in parts:
            path.append(part)
            index = self._array_index.get(tuple(path))
            if index is not None:
                path.append(index)
        return tuple(path)

    def _scan(self, text: str) -> None:
        table: Path = ()
        in_multiline: str | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            if in_multiline is not None:
                # Inside a multi-line string: nothing here is a key.
                if line.count(in_multiline) % 2 == 1:
                    in_multiline = None
                continue
            stripped = _strip_comment(line)
            header = _HEADER.match(stripped)
            if header:
                parts = _split(header.group(2))
                if header.group(1) == "[[":
                    base = self._resolve(parts[:-1]) + (parts[-1],)
                    self._array_index[base] = self._array_index.get(base, -1) + 1
                    self._lines.setdefault(base, number)
                    table = base + (self._array_index[base],)
                else:
                    table = self._resolve(parts)
                self._lines.setdefault(table, number)
                continue
            depth_path: list[Path] = [table]
            for match in _ASSIGN.finditer(stripped):
                prefix = stripped[: match.start(1)]
                # An opening brace before this key nests it in an inline table.
                opened = prefix.count("{") - prefix.count("}")
                parent = depth_path[min(opened, len(depth_path) - 1)]
                key_path = parent + tuple(_split(match.group(1)))
                self._lines.setdefault(key_path, number)
                rest = stripped[match.end():].lstrip()
                if rest.startswith("{"):
                    depth_path = depth_path[: opened + 1] + [key_path]
            for quote in ('"""', "'''"):
                if stripped.count(quote) % 2 == 1:
                    in_multiline = quote

    def line(self, path: Sequence[PathPart]) -> int | None:
        """The line defining ``path``, or of its nearest enclosing key; None if unknown."""
        probe = tuple(path)
        while probe:
            found = self._lines.get(probe)
            if found is not None:
                return found
            probe = probe[:-1]
        return None


def format_path(path: Sequence[PathPart]) -> str:
    """``("room", "kitchen", 1, "pin")`` -> ``room.kitchen[1].pin``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = part if re.fullmatch(_BARE, part) else f'"{part}"'
            out += f".{text}" if out else text
    return out
