"""Team-draft interleaving (Radlinski, Kurup & Joachims 2008) and how many impressions each test needs.

Where it sits: in ``ranking.online``, beside ``ranking.online.abtest``. Every visiting user sees one
slate merged from both policies' slates: while the slate is short, the team with fewer picks (on a tie,
the one a coin chose for that round) adds its highest-ranked item not yet in the slate. A click credits
the team that placed the item; per visit, the team with more credited clicks wins (equal: a tie). Over
visits with a winner, a two-sided sign test (binomial, p = 1/2) asks whether B wins more often than A.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ranking.config import LabelConfig
from ranking.data import schema as S
from ranking.data.dataset import Dataset
from ranking.online.abtest import Z95, ab_test
from ranking.online.live import SLATE, LiveWorld, concat
from ranking.online.measures import impression_value
from ranking.prep.lists import PAD

TEAM_A, TEAM_B = 1, 2


def team_draft(a: np.ndarray, b: np.ndarray, a_first: np.ndarray, length: int = SLATE
               ) -> tuple[np.ndarray, np.ndarray]:
    """Interleave rows of ``a`` and ``b`` (item lists, -1 padded); ``a_first`` bool (n, ≥ length // 2 + 1):
    the coin of each round (a round starts when both teams have as many picks). Returns (slate, team)."""
    n = len(a)
    out = np.full((n, length), PAD, dtype=np.int64)
    team = np.zeros((n, length), dtype=np.int8)
    picks = np.zeros((n, 2), dtype=np.int64)
    rows = np.arange(n)
    for slot in range(length):
        coin = a_first[:, min(slot // 2, a_first.shape[1] - 1)]
        want_a = (picks[:, 0] < picks[:, 1]) | ((picks[:, 0] == picks[:, 1]) & coin)
        nxt_a, ok_a = _next(a, out)
        nxt_b, ok_b = _next(b, out)
        use_a = np.where(want_a, ok_a | ~ok_b, ok_a & ~ok_b)  # the other team picks when one has nothing left
        ok = np.where(use_a, ok_a, ok_b)
        out[rows[ok], slot] = np.where(use_a, nxt_a, nxt_b)[ok]
        team[rows[ok], slot] = np.where(use_a, TEAM_A, TEAM_B)[ok]
        picks[rows[ok], np.where(use_a, 0, 1)[ok]] += 1
    return out, team


def _next(lst: np.ndarray, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's highest-ranked item of ``lst`` not already in ``chosen``, and whether there is one."""
    valid = (lst >= 0) & ~(lst[:, :, None] == chosen[:, None, :]).any(2)
    j = valid.argmax(1)
    return lst[np.arange(len(lst)), j], valid.any(1)


def credit(log: dict[str, np.ndarray], by: str = S.CLICK, labels: LabelConfig | None = None
           ) -> tuple[int, int, int]:
    """(A wins, B wins, ties) over visits: the team with more ``by`` (a signal, or "value": the compound score
    under ``labels``) on its items wins the visit."""
    y = impression_value(log, labels or LabelConfig()) if by == "value" else log[by].astype(np.float64)
    n_visits = int(log["visit"].max()) + 1 if len(log["visit"]) else 0
    ca = np.bincount(log["visit"], weights=y * (log["team"] == TEAM_A), minlength=n_visits)
    cb = np.bincount(log["visit"], weights=y * (log["team"] == TEAM_B), minlength=n_visits)
    return int((ca > cb).sum()), int((cb > ca).sum()), int((ca == cb).sum())


def sign_test(wins_a: int, wins_b: int) -> float:
    """Two-sided exact binomial p-value of B's wins among visits with a winner (1.0 when there are none)."""
    n = wins_a + wins_b
    return float(stats.binomtest(wins_b, n, 0.5).pvalue) if n else 1.0


@dataclass(eq=False)
class InterleaveResult:
    """Wins, ties, the sign test and the log of an interleaved test."""

    names: tuple[str, str]
    wins_a: int
    wins_b: int
    ties: int
    p_value: float
    log: dict[str, np.ndarray] = field(repr=False)

    @property
    def n_impressions(self) -> int:
        return len(self.log["user"])

    @property
    def z(self) -> float:
        """Signed normal approximation of the sign test: (B wins − A wins) / √(decided visits)."""
        n = self.wins_a + self.wins_b
        return (self.wins_b - self.wins_a) / np.sqrt(n) if n else 0.0

    def verdict(self) -> str:
        a, b = self.names
        head = f"{b} won {self.wins_b} visits, {a} {self.wins_a}, {self.ties} tied (sign test p = {self.p_value:.3g})"
        if self.p_value >= 0.05:
            return f"{head}: no detectable preference"
        return f"{head}: users prefer {b if self.wins_b > self.wins_a else a}"


def interleave_test(dataset: Dataset, policy_a, policy_b, days: int = 7, seed: int = 0,
                    names: tuple[str, str] | None = None, by: str = S.CLICK,
                    labels: LabelConfig | None = None) -> InterleaveResult:
    """Team-draft interleave the two policies' slates for every visiting user for ``days`` days."""
    names = names or (getattr(policy_a, "name", "A"), getattr(policy_b, "name", "B"))
    world = LiveWorld(dataset, seed)
    coin_rng = np.random.default_rng(np.random.SeedSequence([seed, 17]))
    parts = []
    for _ in range(days):
        sa, sb = policy_a.slates(world), policy_b.slates(world)
        users, start = world.visits()
        slates, team = team_draft(sa[users], sb[users], coin_rng.random((len(users), SLATE // 2 + 1)) < 0.5)
        # no single ranking's propensity describes a merged slate: logged as NaN (this log is not for training)
        parts.append(world.serve(slates, users, start, propensity=np.full(slates.shape, np.nan), extra={"team": team}))
        world.end_day()
    log = concat(parts)
    if parts:  # visits are numbered per day: make them unique over the test
        offsets = np.cumsum([0] + [int(p["visit"].max()) + 1 if len(p["visit"]) else 0 for p in parts[:-1]])
        log["visit"] = np.concatenate([p["visit"] + o for p, o in zip(parts, offsets, strict=True)])
    wa, wb, ties = credit(log, by, labels)
    return InterleaveResult(names, wa, wb, ties, sign_test(wa, wb), log)


def impressions_needed(dataset: Dataset, policy_a, policy_b, days: int = 7, repeats: int = 10, seed: int = 0,
                       labels: LabelConfig | None = None, power: float = 0.8, metric: str = S.CLICK
                       ) -> pd.DataFrame:
    """Impressions each method needs to detect the difference at the 5 % level with ``power``.

    Both tests are repeated ``repeats`` times (seeds ``seed``…) at ``days`` days; z̄ is the mean signed test
    statistic (A/B: ``metric`` per impression, cluster-robust; interleaving: the sign test's) and n̄ the mean
    impressions. A z-statistic grows with √n, so n* = n̄ · ((z₀.₉₇₅ + z_power) / z̄)²; the empirical power at
    n̄ (share of repeats significant in the right direction) is reported beside it."""
    z_power = float(stats.norm.ppf(power))
    rows = []
    for method in ("A/B test", "interleaving"):
        zs, ns = [], []
        for r in range(repeats):
            if method == "A/B test":
                res = ab_test(dataset, policy_a, policy_b, days, seed + r, labels)
                row = res.table[(res.table["metric"] == metric) & (res.table["per"] == "impression")].iloc[0]
                zs.append(float(row["z"]))
            else:
                res = interleave_test(dataset, policy_a, policy_b, days, seed + r, by=metric, labels=labels)
                zs.append(float(res.z))
            ns.append(res.n_impressions)
        z_bar, n_bar = float(np.mean(zs)), float(np.mean(ns))
        sign = np.sign(z_bar) or 1.0
        needed = n_bar * ((Z95 + z_power) / abs(z_bar)) ** 2 if z_bar != 0 else np.inf
        rows.append({"method": method, "impressions per test": n_bar, "mean z": z_bar,
                     "z sd": float(np.std(zs, ddof=1)) if repeats > 1 else np.nan,
                     "power at this size": float(np.mean(np.asarray(zs) * sign > Z95)),
                     "impressions needed": needed, "repeats": repeats})
    return pd.DataFrame(rows)


def power_curve(needed: pd.DataFrame, sizes: np.ndarray) -> pd.DataFrame:
    """Approximate power Φ(|z̄|·√(n/n̄) − z₀.₉₇₅) of each method at each number of impressions (for the chart)."""
    sizes = np.asarray(sizes, np.float64)
    per_test = needed["impressions per test"].to_numpy(np.float64)[:, None]
    z = np.abs(needed["mean z"].to_numpy(np.float64))[:, None] * np.sqrt(sizes[None, :] / per_test)  # methods × sizes
    return pd.DataFrame({"method": np.repeat(needed["method"].to_numpy(), len(sizes)),
                         "impressions": np.tile(sizes, len(needed)), "power": stats.norm.cdf(z - Z95).ravel()})
