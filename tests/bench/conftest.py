"""The benchmark's modules live in bench/ at the repository root, which is not installed
as a package; make them importable as `bench.*`."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
