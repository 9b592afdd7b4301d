"""The one table `make bench` prints: medians per broker, our ratios, and the targets."""

from __future__ import annotations

import math
from collections.abc import Sequence

from .targets import TARGETS, Complete, Medians, verdict
from .workloads import Figure

OURS = ("ours", "ours-asyncio")
PEERS = ("mosquitto", "amqtt", "aedes")


def fmt(value: float) -> str:
    """A figure with as many decimals as its size deserves; '-' for a missing one."""
    if math.isnan(value):
        return "-"
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 0.1 or size == 0:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _cell(medians: Medians, complete: Complete, broker: str, key: str) -> str:
    value = medians.get(broker, {}).get(key, math.nan)
    if math.isnan(value) and broker in complete and not complete[broker].get(key, True):
        return "incomplete"
    return fmt(value)


def _ratio(medians: Medians, a: str, b: str, key: str) -> str:
    x, y = medians.get(a, {}).get(key, math.nan), medians.get(b, {}).get(key, math.nan)
    if math.isnan(x) or math.isnan(y) or y == 0:
        return "-"
    return f"{x / y:.2f}x"


def _met(result: bool | None) -> str:
    return {True: "yes", False: "NO", None: "-"}[result]


def render(figures: Sequence[Figure], brokers: Sequence[str], medians: Medians,
           complete: Complete, with_targets: bool = True) -> str:
    """The table as text: one row per figure, a column per broker, our ratio to each peer,
    and (``with_targets``) the target and whether ours (uvloop, then asyncio's loop) meets it."""
    ours = [b for b in OURS if b in brokers]
    peers = [b for b in PEERS if b in brokers]
    others = [b for b in brokers if b not in OURS and b not in PEERS]
    shown = [*ours, *peers, *others]
    ratio_cols = [(o, p) for o in ours for p in peers]
    header = ["figure", "unit", *shown, *(f"{o}/{p}" for o, p in ratio_cols)]
    if with_targets:
        header += ["target", *(f"met:{o}" for o in ours)]
    rows = [header]
    for fig in figures:
        row = [fig.label, fig.unit]
        row += [_cell(medians, complete, b, fig.key) for b in shown]
        row += [_ratio(medians, o, p, fig.key) for o, p in ratio_cols]
        if with_targets:
            target = TARGETS.get(fig.key)
            row.append(target.text if target else "")
            row += [_met(verdict(fig.key, o, medians, complete)) if target else "" for o in ours]
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    # names, units and target texts align left, figures right
    text_cols = {0, 1, len(header) - 1 - len(ours) if with_targets else 0}
    lines = []
    for n, r in enumerate(rows):
        cells = [c.ljust(w) if i in text_cols else c.rjust(w)
                 for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def missed(figures: Sequence[Figure], ours: str, medians: Medians,
           complete: Complete) -> list[str]:
    """Labels of the rows whose target ``ours`` misses."""
    return [f.label for f in figures if verdict(f.key, ours, medians, complete) is False]
