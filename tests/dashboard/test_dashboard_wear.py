"""The SD-card figure: batched history writes cost far fewer bytes than a write per reading
(the full figure comes from ``python -m gateway.dashboard.wear``; README, Dashboard)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.dashboard.wear import simulate


def test_batches_write_much_less_than_a_commit_per_reading(tmp_path: Path) -> None:
    batched_dir, eager_dir = tmp_path / "batched", tmp_path / "eager"
    batched_dir.mkdir()
    eager_dir.mkdir()
    batched = asyncio.run(simulate(batched_dir, sensors=20, interval=30, flush_interval=300,
                                   warmup_hours=1, hours=2))
    eager = asyncio.run(simulate(eager_dir, sensors=20, interval=30, flush_interval=1,
                                 warmup_hours=1, hours=2))
    assert batched.commits == 2 * 12
    assert eager.commits > 2000  # a commit for (nearly) every reading
    assert 0 < batched.bytes_per_hour < eager.bytes_per_hour / 5
    assert "KiB written per hour" in batched.summary()
