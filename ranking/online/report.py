"""Plain-text tables of the online experiments, for the CLI (the page shows the same frames)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def fmt(v) -> str:
    """3 significant digits, thousands separated; '—' for NaN."""
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "—" if v is None or np.isnan(v) else ("∞" if v > 0 else "−∞")
    if isinstance(v, str):
        return v
    v = float(v)
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def text_table(frame: pd.DataFrame) -> list[str]:
    """Columns padded to their widest cell, numbers right-aligned."""
    cells = [[str(c) for c in frame.columns], *frame.map(fmt).to_numpy().tolist()]
    widths = [max(len(r[j]) for r in cells) for j in range(len(frame.columns))]
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    return ["  ".join(c.rjust(w) if num and i else c.ljust(w) for c, w, num in zip(row, widths, numeric, strict=True))
            .rstrip() for i, row in enumerate(cells)]


def ab_lines(result) -> list[str]:
    """The A/B table (per impression, then per user), the offline forecast and the verdict."""
    a, b = result.names
    t = result.table.rename(columns={"A": a, "B": b, "name": "signal"})
    lines = [f"A/B test: A = {a}, B = {b}; {result.days} days, seed {result.seed}; "
             f"{result.n_impressions:,} impressions, "
             f"{int((~result.arm).sum())} users in A, {int(result.arm.sum())} in B"]
    for per in ("impression", "user"):
        lines += ["", f"per {per}:"]
        lines += text_table(t[t["per"] == per][["signal", a, b, "B − A", "low", "high"]])
    lines += ["", "verdicts:", *(f"  {v}" for v in result.table["verdict"][result.table["per"] == "impression"])]
    if not result.offline.empty:
        lines += ["", "offline, before the test:", *text_table(result.offline)]
    lines += ["", result.verdict()]
    return lines


def needed_lines(needed: pd.DataFrame, by: str = "click") -> list[str]:
    cols = ["method", "impressions per test", "mean z", "power at this size", "impressions needed"]
    return [f"impressions needed to detect the difference in {by} (5 % level, 80 % power):",
            *text_table(needed[cols])]


def loop_lines(result) -> list[str]:
    """The loop's measures, one row per measure and one column per round."""
    t = result.table.set_index("round").drop(columns="policy").T
    t.columns = [f"round {c}" for c in t.columns]
    frame = t.reset_index().rename(columns={"index": "measure"})
    return [f"feedback loop: {result.policy}, {result.rounds} rounds × {result.days} days, seed {result.seed} "
            "(round 0: the world's logging policy, before deployment)", *text_table(frame)]
