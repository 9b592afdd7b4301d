"""Config errors that name the file, the line and the key."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConfigError:
    """One problem in a config file. ``line`` is 1-based, None when the key has no line
    (a missing required key is reported at its table's line instead)."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigErrors(Exception):
    """Raised by :func:`gateway.config.load_config` with every error found, in file order."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = sorted(errors, key=lambda e: (e.line or 0, e.key))
        super().__init__("\n".join(str(e) for e in self.errors))
