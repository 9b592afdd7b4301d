"""Makes tests/support importable as ``support`` from every test directory."""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parent
# The checkout goes first: test directories such as tests/broker have no __init__.py, so
# with only tests/ on the path they would shadow the real packages as namespace packages.
for _path in (str(_TESTS), str(_TESTS.parent)):
    if _path in sys.path:
        sys.path.remove(_path)
    sys.path.insert(0, _path)

pytest_plugins = ["support.lan", "support.aedes_broker"]
