"""Makes tests/support importable as ``support`` from every test directory."""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
# tests/gateway and tests/broker would otherwise be found as namespace packages named
# gateway and broker: the editable install's finder runs after the path search, so the
# project's own packages must be on the path too.
_REPO = str(Path(_TESTS).parent)
if _REPO not in sys.path:
    sys.path.append(_REPO)

pytest_plugins = ["support.lan"]
