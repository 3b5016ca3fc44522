"""Significance that counts training noise: one comparison of two lists, repeated over training seeds.

Where it sits: after evaluation. ``ranking.study`` trains every stage once per training seed on one
fixed split and hands this module one :class:`~ranking.evaluation.result.RunEvaluation` per seed;
nothing here trains or reads files.

A paired Wilcoxon test over users treats users as the only source of noise, yet retraining with
another seed can flip the sign of a stage's gain. So each comparison "A → B" is measured per seed
(the mean per-user difference B − A of the basis metric, and that seed's Wilcoxon p over users) and
then across seeds (mean, SD, min, max, and a Student-t interval over the seeds' effects).

Verdict rule (:func:`verdict`): "B beats A" only if every seed's effect is positive, every seed's
p < ``alpha`` and the across-seed interval lies above 0; "A beats B" is the mirror image; anything
else (a sign flip, an interval that contains 0, a seed without a significant test) is
"not distinguishable".
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import stats

from ranking import names
from ranking.evaluation.evaluate import MIN_USERS, TIE_TOL
from ranking.evaluation.result import RunEvaluation

Verdict = Literal["b_beats_a", "a_beats_b", "not_distinguishable"]
ALPHA = 0.05
CONFIDENCE = 0.95
RULE = ("“B beats A” only if every training seed's effect has the same sign, each seed's paired Wilcoxon "
        "test over users gives p < 0.05, and the 95% interval over seeds excludes 0; "
        "otherwise the two are “not distinguishable”.")


def paired_effect(a: np.ndarray, b: np.ndarray) -> tuple[float, float, int]:
    """(mean of b − a over users scored in both, Wilcoxon signed-rank p over users, users paired).

    Differences within float noise (``TIE_TOL``) are dropped from the test, as in
    ``evaluate.compare_stages``; p is NaN when fewer than ``MIN_USERS`` users changed, and the
    effect too when fewer than ``MIN_USERS`` users are paired (a mean over so few users is noise).
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = (b - a)[~(np.isnan(a) | np.isnan(b))]
    if len(d) < MIN_USERS:
        return float("nan"), float("nan"), len(d)
    changed = d[np.abs(d) > TIE_TOL]
    p = float("nan")
    if len(changed) >= MIN_USERS:
        p = float(stats.wilcoxon(changed).pvalue)
    return float(d.mean()), p, len(d)


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Student-t interval for the mean of ``values``: mean ± t(1−α/2, n−1)·SD/√n; NaN for n < 2."""
    x = np.asarray(values, np.float64)
    n = len(x)
    if n < 2 or np.isnan(x).any():
        return float("nan"), float("nan")
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * x.std(ddof=1) / math.sqrt(n)
    return float(x.mean() - half), float(x.mean() + half)


def verdict(effects: Sequence[float], p_values: Sequence[float], interval: tuple[float, float],
            alpha: float = ALPHA) -> tuple[Verdict, str]:
    """The verdict and, when undecided, why (see the module docstring for the rule)."""
    e, p = np.asarray(effects, np.float64), np.asarray(p_values, np.float64)
    lo, hi = interval
    if len(e) < 2:
        return "not_distinguishable", "one training seed cannot show training noise"
    if np.isnan(e).any() or math.isnan(lo):
        return "not_distinguishable", f"with some seed fewer than {MIN_USERS} users have the metric in both lists"
    if (np.abs(e) <= TIE_TOL).all():
        return "not_distinguishable", "the two lists score the same with every seed"
    if not ((e > 0).all() or (e < 0).all()):
        return "not_distinguishable", "the sign of the effect changes with the training seed"
    if not (lo > 0 or hi < 0):
        return "not_distinguishable", "the interval over seeds includes 0"
    if np.isnan(p).any() or (p >= alpha).any():
        return "not_distinguishable", f"not every seed's test over users gives p < {alpha:g}"
    return ("b_beats_a" if lo > 0 else "a_beats_b"), ""


@dataclass(frozen=True)
class Comparison:
    """One comparison A → B over training seeds: per-seed effects and p-values, their spread, the verdict."""

    a: str
    b: str
    seeds: tuple[int, ...]
    effects: tuple[float, ...]
    p_values: tuple[float, ...]
    n_users: tuple[int, ...]
    confidence: float = CONFIDENCE
    alpha: float = ALPHA

    @property
    def mean(self) -> float:
        return float(np.mean(self.effects)) if self.effects else float("nan")

    @property
    def sd(self) -> float:
        return float(np.std(self.effects, ddof=1)) if len(self.effects) > 1 else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        return t_interval(self.effects, self.confidence)

    @property
    def verdict(self) -> Verdict:
        return verdict(self.effects, self.p_values, self.interval, self.alpha)[0]

    @property
    def reason(self) -> str:
        """Why the verdict is "not distinguishable" ('' when one side wins)."""
        return verdict(self.effects, self.p_values, self.interval, self.alpha)[1]

    @property
    def name(self) -> str:
        return f"{self.a}→{self.b}"

    def title(self) -> str:
        """'Stage 2 → Stage 3' for people."""
        return f"{short(self.a)} → {short(self.b)}"

    def verdict_text(self) -> str:
        """The verdict in words: 'Stage 3 beats Stage 2', 'not distinguishable (…)'."""
        if self.verdict == "b_beats_a":
            return f"{short(self.b)} beats {short(self.a)}"
        if self.verdict == "a_beats_b":
            return f"{short(self.a)} beats {short(self.b)}"
        return f"not distinguishable ({self.reason})"

    def to_document(self) -> dict:
        lo, hi = self.interval
        return {"a": self.a, "b": self.b, "seeds": list(self.seeds), "effects": list(self.effects),
                "p_values": list(self.p_values), "n_users": list(self.n_users), "mean": self.mean, "sd": self.sd,
                "min": min(self.effects, default=float("nan")), "max": max(self.effects, default=float("nan")),
                "interval": [lo, hi], "confidence": self.confidence, "verdict": self.verdict,
                "verdict_text": self.verdict_text()}


@dataclass(frozen=True, eq=False)
class SeedStudy:
    """Every comparison over training seeds, each seed's basis metric per list, and notes.

    ``evaluations`` (one ``RunEvaluation`` per seed) is kept for callers, not written by ``to_document``.
    """

    k: int
    basis: str
    seeds: tuple[int, ...]
    comparisons: tuple[Comparison, ...]
    headline: dict[int, dict[str, float]]
    notes: tuple[str, ...] = ()
    seconds: dict[int, float] = field(default_factory=dict)
    evaluations: dict[int, RunEvaluation] = field(default_factory=dict)

    def baseline_margin(self) -> tuple[str, float] | None:
        """(the best baseline by its mean over seeds, the last list's mean margin over it), or None."""
        against = [c for c in self.comparisons if c.a in BASELINE_SHORT]
        if not against:
            return None
        last = against[0].b
        means = {c.a: float(np.nanmean([self.headline[s].get(c.a, np.nan) for s in self.seeds])) for c in against}
        best = max(means, key=lambda k: -np.inf if np.isnan(means[k]) else means[k])
        mine = float(np.nanmean([self.headline[s].get(last, np.nan) for s in self.seeds]))
        return best, mine - means[best]

    def comparison(self, a: str, b: str) -> Comparison:
        for c in self.comparisons:
            if (c.a, c.b) == (a, b):
                return c
        raise KeyError(f"no comparison {a}→{b}; have {', '.join(c.name for c in self.comparisons)}")

    def to_document(self) -> dict:
        """JSON-able summary (NaN stays NaN: the writer turns it into null)."""
        margin = self.baseline_margin()
        return {"k": self.k, "basis": self.basis, "basis_title": names.title(self.basis),
                "best_baseline": None if margin is None else {"name": margin[0], "margin": margin[1]},
                "seeds": list(self.seeds), "rule": RULE, "comparisons": [c.to_document() for c in self.comparisons],
                "headline": {str(s): v for s, v in self.headline.items()}, "notes": list(self.notes),
                "seconds": {str(s): v for s, v in self.seconds.items()}}


BASELINE_SHORT = {"popularity": "Popularity", "smoothed_ctr": "Smoothed CTR", "heuristic": "Heuristic",
                  "freshness": "Freshness", "glm": "GLM", "logreg": "Logistic regression"}


def short(name: str) -> str:
    """A list's or baseline's short name for people ('Stage 2', 'GLM')."""
    return BASELINE_SHORT.get(name) or names.SHORT.get(name, name)


def compare_over_seeds(a: str, b: str, per_seed: Mapping[int, tuple[np.ndarray, np.ndarray]],
                       confidence: float = CONFIDENCE, alpha: float = ALPHA) -> Comparison:
    """One comparison from each seed's per-user (a, b) arrays of the basis metric."""
    seeds = tuple(per_seed)
    rows = [paired_effect(*per_seed[s]) for s in seeds]
    return Comparison(a, b, seeds, tuple(r[0] for r in rows), tuple(r[1] for r in rows),
                      tuple(r[2] for r in rows), confidence, alpha)


def baseline_per_user(ev: RunEvaluation, name: str) -> np.ndarray | None:
    """A baseline's per-user basis metric when the evaluation carries it, else None."""
    per_user = ev.per_user.get(name, {})
    return np.asarray(per_user[ev.basis]) if ev.basis in per_user else None


def study(evaluations: Mapping[int, RunEvaluation], confidence: float = CONFIDENCE, alpha: float = ALPHA,
          seconds: Mapping[int, float] | None = None) -> SeedStudy:
    """Consecutive lists (stage 1 → 2 → 3 → final), then every baseline against the last list (the final feed),
    over seeds. Baselines present in some seeds' evaluations only are left out, with a note."""
    if not evaluations:
        raise ValueError("a seed study needs at least one evaluated seed")
    seeds = tuple(evaluations)
    first = evaluations[seeds[0]]
    if any(ev.basis != first.basis for ev in evaluations.values()):
        raise ValueError("every seed must be evaluated on the same basis metric")
    lists = [name for name in first.stages if all(name in ev.per_user for ev in evaluations.values())]
    basis = first.basis
    comparisons = []
    for a, b in itertools.pairwise(lists):
        comparisons.append(compare_over_seeds(
            a, b, {s: (ev.per_user[a][basis], ev.per_user[b][basis]) for s, ev in evaluations.items()},
            confidence, alpha))
    notes = []
    last = lists[-1] if lists else None
    bases = [b for b in (getattr(first, "baselines", None) or {}) if b not in lists]
    for b in bases:
        per = {s: baseline_per_user(ev, b) for s, ev in evaluations.items()}
        if last is None or any(v is None for v in per.values()):
            notes.append(f"{short(b)} is not in every seed's evaluation, so it is not compared.")
            continue
        comparisons.append(compare_over_seeds(
            b, last, {s: (per[s], ev.per_user[last][basis]) for s, ev in evaluations.items()}, confidence, alpha))
    if not bases:
        notes.append("No baseline is part of this evaluation, so no list is compared with one.")
    if len(seeds) < 2:
        notes.append("One training seed cannot show training noise: every verdict is “not distinguishable”.")
    headline = {s: {name: ev.headline(name) for name in [*lists, *bases, "random"]}
                for s, ev in evaluations.items()}
    return SeedStudy(first.k, basis, seeds, tuple(comparisons), headline, tuple(notes),
                     dict(seconds or {}), dict(evaluations))
