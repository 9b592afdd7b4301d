"""Typed config options, shared by the config validator and the drivers that declare them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


@dataclass(frozen=True)
class Option:
    """One key a table may hold: its type, default, allowed values and one line of help."""

    kind: type
    default: Any = None
    doc: str = ""
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    required: bool = False
    check: Callable[[Any], str | None] | None = None

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable, or None when it is."""
        if not _is_kind(value, self.kind):
            return f"must be {_TYPE_NAMES.get(self.kind, self.kind.__name__)}, not {value!r}"
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(repr(c) for c in self.choices)
            return f"must be one of {allowed}, not {value!r}"
        if self.minimum is not None and value < self.minimum:
            return f"must be at least {self.minimum:g}, not {value!r}"
        if self.maximum is not None and value > self.maximum:
            return f"must be at most {self.maximum:g}, not {value!r}"
        if self.check is not None:
            return self.check(value)
        return None


def _is_kind(value: Any, kind: type) -> bool:
    if kind is object:
        return True
    # bool is an int subclass in Python, but `pin = true` is a mistake, not GPIO 1.
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)


def coerce(option: Option, value: Any) -> Any:
    """``value`` converted to the option's type (ints become floats for float options)."""
    return float(value) if option.kind is float else value
