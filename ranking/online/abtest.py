"""An online A/B test in a generated world: users randomised into two arms, each arm served its policy.

Where it sits: in ``ranking.online``, on ``ranking.online.live`` (serving) and ``ranking.online.policies``.
Both arms share one world, one day, one set of visits (the same users visit either way: visiting does not
depend on the feed in this world); only the slate differs, by the user's arm (a seeded coin per user).

Per signal and for the compound value, per impression and per user:

- per impression: each arm's ratio mean Σ y / Σ impressions, with a variance that treats the user as the
  unit (cluster-robust: one user's impressions are not independent), Var = G/(G−1)·Σ_u (y_u − m·n_u)² / (Σ n)²;
- per user: each arm's mean over *all* its users of their total over the test (users who never visited
  count 0), Welch's variance;
- the difference B − A with a normal 95 % interval, and a verdict: "B better", "A better" (hides: lower is
  better), or "no detectable difference" when the interval contains 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ranking.config import LabelConfig
from ranking.data import schema as S
from ranking.data.dataset import Dataset
from ranking.online.live import LiveWorld, concat
from ranking.online.measures import SIGNAL_NAMES, impression_value, ndcg_at
from ranking.online.policies import propensities

Z95 = 1.959963984540054
METRICS = (S.CLICK, S.DWELL, S.SHARE, S.COMMENT, S.HIDE, "value")
LOWER_IS_BETTER = (S.HIDE,)


@dataclass(eq=False)
class ABResult:
    """An A/B test's per-arm log, its table (``table``), the offline forecast beside it, and a summary."""

    names: tuple[str, str]
    days: int
    seed: int
    arm: np.ndarray  # bool per user: True = B
    log: dict[str, np.ndarray]  # world positions, with "arm" per impression
    table: pd.DataFrame
    offline: pd.DataFrame
    world: LiveWorld = field(repr=False)

    @property
    def n_impressions(self) -> int:
        return len(self.log["user"])

    def verdict(self) -> str:
        """One line on the compound value per impression, and whether offline agreed."""
        row = self.table[(self.table["metric"] == "value") & (self.table["per"] == "impression")].iloc[0]
        return f"{row['verdict']}. {agreement(self.offline, row)}"


def assign(n_users: int, seed: int) -> np.ndarray:
    """bool per user, True = arm B: a seeded fair coin per user."""
    return np.random.default_rng(np.random.SeedSequence([seed, 5])).random(n_users) < 0.5


def ab_test(dataset: Dataset, policy_a, policy_b, days: int = 7, seed: int = 0,
            labels: LabelConfig | None = None, names: tuple[str, str] | None = None,
            offline: dict[str, tuple[float, float]] | None = None) -> ABResult:
    """Serve ``policy_a`` and ``policy_b`` to seeded halves of the world's users for ``days`` days.

    ``offline``: more {measure: (A, B)} to show beside the online result (a trained run's own metrics are
    added from ``ListPolicy.offline``)."""
    labels = labels or LabelConfig()
    names = names or (getattr(policy_a, "name", "A"), getattr(policy_b, "name", "B"))
    world = LiveWorld(dataset, seed)
    arm = assign(world.n_users, seed)
    truth0, eligible0 = world.truth_now(), world.eligible()
    parts, first = [], None
    for _ in range(days):
        sa, sb = policy_a.slates(world), policy_b.slates(world)
        first = (sa, sb) if first is None else first
        users, start = world.visits()
        slates = np.where(arm[users, None], sb[users], sa[users])
        prop = np.where(arm[users, None], propensities(policy_b, world, sb)[users],
                        propensities(policy_a, world, sa)[users])
        parts.append(world.serve(slates, users, start, prop,
                                 extra={"arm": np.repeat(arm[users, None], slates.shape[1], 1)}))
        world.end_day()
    log = concat(parts)
    table = ab_table(log, arm, labels, names)
    gain = truth0.gain(np.arange(world.n_users), labels)
    off_a, off_b = getattr(policy_a, "offline", {}), getattr(policy_b, "offline", {})
    runs = {k: (off_a.get(k, np.nan), off_b.get(k, np.nan)) for k in dict.fromkeys([*off_a, *off_b])}
    off = offline_forecast(first, gain, eligible0, names, {**runs, **(offline or {})})
    return ABResult(names, days, seed, arm, log, table, off, world)


def _per_user(log: dict[str, np.ndarray], y: np.ndarray, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    return (np.bincount(log["user"], weights=y, minlength=n_users),
            np.bincount(log["user"], minlength=n_users).astype(np.float64))


def ratio_mean(y_u: np.ndarray, n_u: np.ndarray) -> tuple[float, float]:
    """Σy/Σn and its cluster-robust variance over units (users) with n_u > 0 or y_u ≠ 0."""
    total = n_u.sum()
    if total == 0:
        return float("nan"), float("nan")
    m = y_u.sum() / total
    g = int((n_u > 0).sum())
    var = ((y_u - m * n_u) ** 2).sum() / total**2 * (g / (g - 1) if g > 1 else np.nan)
    return float(m), float(var)


def ab_table(log: dict[str, np.ndarray], arm: np.ndarray, labels: LabelConfig, names: tuple[str, str]
             ) -> pd.DataFrame:
    """One row per metric × (impression, user): A, B, B − A, its 95 % interval and the verdict."""
    n_users = len(arm)
    rows = []
    for metric in METRICS:
        y = impression_value(log, labels) if metric == "value" else log[metric].astype(np.float64)
        y_u, n_u = _per_user(log, y, n_users)
        for per in ("impression", "user"):
            stats = []
            for b in (False, True):
                sel = arm == b
                if per == "impression":
                    stats.append(ratio_mean(y_u[sel], n_u[sel]))
                else:
                    v = y_u[sel]
                    stats.append((float(v.mean()), float(v.var(ddof=1) / len(v)) if len(v) > 1 else np.nan))
            (ma, va), (mb, vb) = stats
            diff, se = mb - ma, float(np.sqrt(va + vb))
            lo, hi = diff - Z95 * se, diff + Z95 * se
            rows.append({"metric": metric, "name": SIGNAL_NAMES[metric], "per": per, "A": ma, "B": mb,
                         "B − A": diff, "low": lo, "high": hi, "z": diff / se if se > 0 else np.nan,
                         "verdict": _verdict(metric, per, diff, lo, hi, names)})
    return pd.DataFrame(rows)


def _verdict(metric: str, per: str, diff: float, lo: float, hi: float, names: tuple[str, str]) -> str:
    what = f"{SIGNAL_NAMES[metric]} per {per}"
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo <= 0 <= hi:
        return f"{what}: no detectable difference (95% interval {lo:+.3g} to {hi:+.3g})"
    b_higher = lo > 0
    better = names[1] if b_higher != (metric in LOWER_IS_BETTER) else names[0]
    return (f"{what}: {better} better, {names[1]} {'+' if diff > 0 else ''}{diff:.3g} vs {names[0]} "
            f"(95% interval {lo:+.3g} to {hi:+.3g})")


def offline_forecast(first: tuple[np.ndarray, np.ndarray] | None, gain: np.ndarray, eligible: np.ndarray,
                     names: tuple[str, str], extra: dict[str, float] | None = None) -> pd.DataFrame:
    """What offline measures said before the test: oracle NDCG@10 of each arm's day-one slates (all users),
    the truth's expected value of a slate's top slot, plus any ``extra`` {"metric": (a, b)} given."""
    rows = []
    if first is not None:
        for label, fn in (("oracle NDCG@10 at deployment", lambda s: np.nanmean(ndcg_at(s, gain, eligible))),):
            a, b = fn(first[0]), fn(first[1])
            rows.append({"offline measure": label, names[0]: a, names[1]: b, "B − A": b - a})
    for label, (a, b) in (extra or {}).items():
        rows.append({"offline measure": label, names[0]: a, names[1]: b, "B − A": b - a})
    return pd.DataFrame(rows)


def agreement(offline: pd.DataFrame, online_row: pd.Series) -> str:
    """Did the first offline measure point the same way as the online compound value per impression?"""
    names = [c for c in offline.columns if c not in ("offline measure", "B − A")]
    if offline.empty:
        return "No offline forecast to compare."
    off = offline.iloc[0]
    d = float(off["B − A"])
    online_zero = online_row["low"] <= 0 <= online_row["high"]
    if abs(d) < 1e-9:
        return f"Offline ({off['offline measure']}) saw no difference; online " + (
            "agreed." if online_zero else "found one.")
    if online_zero:
        return (f"Offline ({off['offline measure']}) favoured {names[1] if d > 0 else names[0]} by {abs(d):.3f}; "
                "online could not tell.")
    same = (d > 0) == (online_row["B − A"] > 0)
    return f"Offline ({off['offline measure']}) {'agreed' if same else 'disagreed'} with online."
