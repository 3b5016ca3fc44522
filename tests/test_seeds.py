"""ranking.evaluation.seeds: per-seed effects, the t-interval over seeds and the verdict rule.

Expected values are derived here: effects by hand, the exact Wilcoxon p of an all-positive sample
(2 / 2**n), the interval from scipy.stats.t, verdicts from hand-made per-seed effects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest
from scipy import stats

from ranking.evaluation import seeds as S
from ranking.evaluation.result import RunEvaluation

BASIS = "oracle_ndcg@10"


def test_paired_effect_is_the_mean_difference_over_users_scored_in_both():
    a = np.array([0.5, 0.2, np.nan, 0.4, 0.1, *[0.3] * 10])
    b = np.array([0.6, 0.1, 0.9, np.nan, 0.4, *[0.3] * 10])
    effect, p, n = S.paired_effect(a, b)
    assert n == 13  # users 0, 1, 4 and the ten unchanged ones
    assert effect == pytest.approx((0.1 - 0.1 + 0.3) / 13)
    assert math.isnan(p)  # 3 changed users are too few for a signed-rank test
    effect, p, n = S.paired_effect(a[:5], b[:5])  # 3 paired users: a mean over so few is noise
    assert n == 3
    assert math.isnan(effect)
    assert math.isnan(p)


def test_paired_effect_p_is_the_exact_two_sided_signed_rank_p():
    a = np.zeros(12)
    b = np.array([0.01 * (i + 1) for i in range(10)] + [0.0, 0.0])  # 10 distinct gains, 2 ties dropped
    effect, p, n = S.paired_effect(a, b)
    assert n == 12
    assert effect == pytest.approx(sum(0.01 * (i + 1) for i in range(10)) / 12)
    # every one of the 10 non-zero differences is positive: only 1 of 2**10 sign patterns is as extreme
    assert p == pytest.approx(2 / 2**10)


def test_t_interval_matches_scipy():
    x = [0.012, -0.004, 0.007]
    mean, sem = np.mean(x), stats.sem(x)
    expected = stats.t.interval(0.95, len(x) - 1, loc=mean, scale=sem)
    assert S.t_interval(x) == pytest.approx(expected)
    # by hand for two values: mean ± t(0.975, 1) · |a − b| / 2
    lo, hi = S.t_interval([0.01, 0.03])
    assert (lo, hi) == pytest.approx((0.02 - 12.7062047 * 0.01, 0.02 + 12.7062047 * 0.01))
    assert all(math.isnan(v) for v in S.t_interval([0.5]))


def _verdict(effects, p_values):
    return S.verdict(effects, p_values, S.t_interval(effects))


def test_verdicts_from_hand_made_effects():
    small = [1e-5] * 3
    assert _verdict([0.030, 0.031, 0.029], small) == ("b_beats_a", "")
    assert _verdict([-0.030, -0.031, -0.029], small) == ("a_beats_b", "")
    # the case: +0.006 with one seed, −0.007 with another, each p < 1e-4
    verdict, reason = _verdict([0.006, -0.007, 0.004], small)
    assert verdict == "not_distinguishable"
    assert "sign" in reason
    # same sign, but the spread over seeds is too wide: the interval contains 0
    verdict, reason = _verdict([0.001, 0.002, 0.050], small)
    assert verdict == "not_distinguishable"
    assert "interval" in reason
    # consistent and tight, but one seed's test over users is not significant
    verdict, reason = _verdict([0.030, 0.031, 0.029], [1e-5, 0.2, 1e-5])
    assert verdict == "not_distinguishable"
    assert "p < 0.05" in reason
    assert _verdict([0.030], [1e-5])[0] == "not_distinguishable"  # one seed shows no training noise
    assert _verdict([0.030, np.nan, 0.031], small)[0] == "not_distinguishable"  # a seed without enough users


def test_comparison_spread_and_document():
    c = S.Comparison("stage2", "stage3", (1, 2, 3), (0.02, 0.03, 0.04), (1e-4, 1e-4, 1e-4), (50, 50, 50))
    assert c.mean == pytest.approx(0.03)
    assert c.sd == pytest.approx(0.01)  # sqrt(((−.01)² + 0 + .01²) / 2)
    half = stats.t.ppf(0.975, 2) * 0.01 / math.sqrt(3)  # 4.303 · 0.01 / √3 ≈ 0.0248 < 0.03
    assert c.interval == pytest.approx((0.03 - half, 0.03 + half))
    assert c.verdict == "b_beats_a"
    assert c.verdict_text() == "Stage 3 beats Stage 2"
    doc = c.to_document()
    assert (doc["min"], doc["max"]) == (0.02, 0.04)
    assert doc["verdict"] == "b_beats_a"
    assert doc["interval"] == pytest.approx(list(c.interval))


@dataclass(frozen=True, eq=False)
class _WithBaselines(RunEvaluation):
    """A RunEvaluation that carries baselines, as the evaluation will."""

    baselines: dict = field(default_factory=dict)


def _evaluation(per_list: dict[str, list[float]], heuristic: list[float] | None = None) -> RunEvaluation:
    per_user = {name: {BASIS: np.array(v, dtype=float)} for name, v in per_list.items()}
    stages = {name: {BASIS: float(np.nanmean(v))} for name, v in per_list.items()}
    if heuristic is None:
        return RunEvaluation(k=10, basis=BASIS, stages=stages, per_user=per_user)
    per_user["heuristic"] = {BASIS: np.array(heuristic, dtype=float)}
    return _WithBaselines(k=10, basis=BASIS, stages=stages, per_user=per_user,
                          baselines={"heuristic": {BASIS: float(np.mean(heuristic))}})


def test_study_compares_consecutive_lists_and_each_baseline_with_the_last_list():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.6, 40)
    evals = {}
    for seed, shift in zip((7, 8, 9), (0.010, -0.012, 0.008), strict=True):  # stage 3's gain flips sign
        evals[seed] = _evaluation({"stage1": base, "stage2": base + 0.1 + rng.uniform(0, 0.01, 40),
                                   "stage3": base + 0.1 + shift}, heuristic=base + 0.05)
    study = S.study(evals)
    assert study.seeds == (7, 8, 9)
    assert [c.name for c in study.comparisons] == ["stage1→stage2", "stage2→stage3", "heuristic→stage3"]
    up = study.comparison("stage1", "stage2")
    expected = [float(np.mean(evals[s].per_user["stage2"][BASIS] - base)) for s in (7, 8, 9)]
    assert up.effects == pytest.approx(expected)
    assert up.verdict == "b_beats_a"
    assert study.comparison("stage2", "stage3").verdict == "not_distinguishable"
    against = study.comparison("heuristic", "stage3")
    assert against.effects == pytest.approx([0.05 + s for s in (0.010, -0.012, 0.008)])
    assert against.verdict == "b_beats_a"
    assert against.verdict_text() == "Stage 3 beats Heuristic"
    best, gap = study.baseline_margin()
    assert best == "heuristic"
    assert gap == pytest.approx(np.mean([0.05 + s for s in (0.010, -0.012, 0.008)]))
    doc = study.to_document()
    assert doc["seeds"] == [7, 8, 9]
    assert doc["headline"]["8"]["stage1"] == pytest.approx(base.mean())
    assert len(doc["comparisons"]) == 3
    assert doc["best_baseline"]["name"] == "heuristic"


def test_study_without_baselines_says_so():
    x = np.linspace(0.1, 0.9, 20)
    study = S.study({1: _evaluation({"stage1": x, "stage2": x + 0.1}),
                     2: _evaluation({"stage1": x, "stage2": x + 0.2})})
    assert [c.name for c in study.comparisons] == ["stage1→stage2"]
    assert any("No baseline" in n for n in study.notes)
    assert study.baseline_margin() is None
    with pytest.raises(ValueError, match="at least one"):
        S.study({})


def test_chart_has_a_dot_per_seed_the_interval_a_zero_line_and_verdicts_in_words():
    from ranking.viz.seed_charts import seed_effects

    x = np.linspace(0.1, 0.9, 30)
    evals = {s: _evaluation({"stage1": x, "stage2": x + d2, "stage3": x + d2 + d3})
             for s, d2, d3 in ((1, 0.10, 0.01), (2, 0.11, -0.02), (3, 0.12, 0.005))}
    study = S.study(evals)
    fig = seed_effects(study)
    seeds = [t for t in fig.data if t.name.startswith("seed ")]
    assert [t.name for t in seeds] == ["seed 1", "seed 2", "seed 3"]
    assert list(seeds[1].x) == pytest.approx([0.11, -0.02])  # seed 2: stage 1 → 2, stage 2 → 3
    assert list(seeds[0].y) == ["Stage 1 → Stage 2", "Stage 2 → Stage 3"]
    mean = next(t for t in fig.data if t.name.startswith("mean"))
    lo, hi = stats.t.interval(0.95, 2, loc=0.11, scale=stats.sem([0.10, 0.11, 0.12]))
    assert mean.x[0] == pytest.approx(0.11)
    assert (mean.x[0] - mean.error_x.arrayminus[0], mean.x[0] + mean.error_x.array[0]) == pytest.approx((lo, hi))
    assert any(s.x0 == 0 and s.x1 == 0 for s in fig.layout.shapes)
    assert [a.text for a in fig.layout.annotations] == ["<b>helps</b>", "<b>not distinguishable</b>"]
    assert fig.layout.title.text == "Does each step help, across training seeds?"
    assert "Oracle NDCG@10" in fig.layout.xaxis.title.text
    assert "oracle_ndcg" not in fig.to_json()


def test_chart_keeps_the_projector_style_and_says_when_there_is_nothing_to_show():
    from ranking.viz.seed_charts import seed_effects
    from ranking.viz.style import EMPTY_MESSAGE

    x = np.linspace(0.1, 0.9, 30)
    fig = seed_effects(S.study({1: _evaluation({"stage1": x, "stage2": x + 0.1}),
                                2: _evaluation({"stage1": x, "stage2": x + 0.2})}))
    assert fig.layout.title.font.size >= 20
    assert fig.layout.font.size >= 15
    assert fig.layout.height >= 300
    assert fig.layout.yaxis.title.text == "comparison (A → B)"
    empty = seed_effects(S.study({1: _evaluation({"stage1": x})}))
    assert [a.text for a in empty.layout.annotations] == [EMPTY_MESSAGE]


def test_identical_lists_are_not_distinguishable_and_the_reason_says_why():
    e, p = [0.0, 0.0, 0.0], [float("nan")] * 3
    verdict, reason = S.verdict(e, p, S.t_interval(e))
    assert verdict == "not_distinguishable"
    assert reason == "the two lists score the same with every seed"
