"""A/B of two trained runs on the same data: the same stage's metrics, their difference and its noise.

Where it sits: after ``evaluate`` — it reads two ``RunEvaluation`` results and never mixes stages
(comparing stage 2 of one run with the final list of another blamed a setting for the funnel).
The noise of a per-user metric is that of the paired per-user difference: a 95% interval
``mean ± 1.96·sd/√n`` (normal approximation) and the Wilcoxon signed-rank p-value (Wilcoxon, 1945),
over the users measured in both runs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ranking import names
from ranking.evaluation.result import RunEvaluation

COLUMNS = ("metric", "A", "B", "B − A", "± 95%", "Wilcoxon p", "users")


def paired_difference(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Mean per-user difference b − a over users finite in both, its 95% half-width and Wilcoxon p."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"per-user arrays differ in shape: {a.shape} vs {b.shape} (not the same users)")
    both = np.isfinite(a) & np.isfinite(b)
    d = b[both] - a[both]
    n = int(d.size)
    if n == 0:
        return {"delta": float("nan"), "half_width": float("nan"), "p_value": float("nan"), "n": 0}
    half = 1.96 * float(np.std(d, ddof=1)) / np.sqrt(n) if n > 1 else float("nan")
    p = float(stats.wilcoxon(d).pvalue) if np.any(d != 0) else 1.0
    return {"delta": float(d.mean()), "half_width": half, "p_value": p, "n": n}


def common_stages(a: RunEvaluation, b: RunEvaluation) -> list[str]:
    """Lists both runs measured, in funnel order."""
    return [s for s in a.stages if s in b.stages]


def compare(a: RunEvaluation, b: RunEvaluation, stage: str, metrics: list[str] | None = None) -> pd.DataFrame:
    """One row per metric of ``stage`` in both runs: values, difference, and its noise where per-user."""
    if stage not in a.stages or stage not in b.stages:
        raise ValueError(f"both runs must have {stage!r}; they share {common_stages(a, b)}")
    keys = metrics or [m for m in a.stages[stage] if m in b.stages[stage] and not m.startswith("n_")]
    rows = []
    for key in keys:
        va, vb = float(a.stages[stage].get(key, np.nan)), float(b.stages[stage].get(key, np.nan))
        ua, ub = a.per_user.get(stage, {}).get(key), b.per_user.get(stage, {}).get(key)
        noise = paired_difference(ua, ub) if ua is not None and ub is not None else None
        rows.append({"metric": names.title(key), "A": va, "B": vb, "B − A": vb - va,
                     "± 95%": noise["half_width"] if noise else np.nan,
                     "Wilcoxon p": noise["p_value"] if noise else np.nan,
                     "users": noise["n"] if noise else np.nan})
    return pd.DataFrame(rows, columns=list(COLUMNS))


LOWER_IS_BETTER = ("logloss", "ece", "topic_calibration_kl", "avg_rec_popularity", "exposure_gini")


def verdict(delta: float, half_width: float, metric: str) -> str:
    """"better", "worse" or "not distinguishable" for B against A on ``metric`` (a key such as
    ``oracle_ndcg@10``): distinguishable when the 95% interval of the mean per-user difference excludes 0;
    "not measurable" without an interval (one user, or a metric with no per-user values)."""
    if not (np.isfinite(delta) and np.isfinite(half_width)):
        return "not measurable"
    if abs(delta) <= half_width:
        return "not distinguishable"
    up = delta > 0
    return "better" if up != (metric.split("@")[0] in LOWER_IS_BETTER) else "worse"


def verdict_sentence(table: pd.DataFrame, metric: str) -> tuple[str, str]:
    """(verdict, sentence) for one metric key of a ``compare`` table, e.g. ("better", "B is better than A on
    Oracle NDCG@10: +0.012 ± 0.008 (95% interval over 600 users)")."""
    row = table[table["metric"] == names.title(metric)]
    if row.empty:
        raise ValueError(f"{metric!r} is not in the table; it has {list(table['metric'])}")
    r = row.iloc[0]
    word = verdict(float(r["B − A"]), float(r["± 95%"]), metric)
    what = {"better": "better than", "worse": "worse than", "not distinguishable": "not distinguishable from",
            "not measurable": "not measurably different from"}[word]
    noise = (f"{r['B − A']:+.3f} ± {r['± 95%']:.3f} (95% interval over {int(r['users']):,} users)"
             if np.isfinite(r["± 95%"]) else f"{r['B − A']:+.3f}, no interval")
    return word, f"B is {what} A on {names.title(metric)}: {noise}"
