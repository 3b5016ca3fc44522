"""Per-impression AUC, MRR, nDCG@5/10 (ranking.evaluation.impression): by hand, and against the official
MIND scoring written out here (loops + sklearn's roc_auc_score, as msnews' evaluate.py does)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from ranking.evaluation.impression import METRICS, evaluate_impressions, per_impression, verdict


# -- the official script's functions (msnews.github.io, MIND evaluate.py), written from its definitions ----------
def dcg_score(y_true, y_score, k=10):
    order = np.argsort(y_score)[::-1]
    y_true = np.take(y_true, order[:k])
    gains = 2**y_true - 1
    discounts = np.log2(np.arange(len(y_true)) + 2)
    return np.sum(gains / discounts)


def ndcg_score(y_true, y_score, k=10):
    return dcg_score(y_true, y_score, k) / dcg_score(y_true, y_true, k)


def mrr_score(y_true, y_score):
    order = np.argsort(y_score)[::-1]
    y_true = np.take(y_true, order)
    return np.sum(y_true / (np.arange(len(y_true)) + 1)) / np.sum(y_true)


def official(groups, y, score, tie):
    """Mean of each metric over impressions the script can score (a click and a non-click), one impression at a
    time; a submission is a strict ranking, so each impression's scores become 1/rank with ties by ``tie``."""
    out = {m: [] for m in METRICS}
    for g in np.unique(groups):
        at = np.flatnonzero(groups == g)
        yt = y[at].astype(np.float64)
        if yt.sum() == 0 or yt.sum() == len(yt):
            continue
        ranked = sorted(range(len(at)), key=lambda j: (-score[at[j]], tie[at[j]]))
        rank = np.empty(len(at))
        for r, j in enumerate(ranked):
            rank[j] = r + 1
        sub = 1.0 / rank
        out["auc"].append(roc_auc_score(yt, sub))
        out["mrr"].append(mrr_score(yt, sub))
        out["ndcg@5"].append(ndcg_score(yt, sub, 5))
        out["ndcg@10"].append(ndcg_score(yt, sub, 10))
    return {m: float(np.mean(v)) for m, v in out.items()}


def test_a_hand_computed_table():
    # A: scores .9 .1 .5 .3, clicks on the 2nd and 3rd → order item0, item2 (click), item3, item1 (click)
    # B: three tied scores, ties by item position (5, 3, 4 → 3, 4, 5): the click (item 4) comes 2nd
    # C: no click, D: every candidate clicked: both left out, as the official script cannot score them
    group = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 3, 3])
    y = np.array([0, 1, 1, 0, 0, 0, 1, 0, 0, 1, 1])
    score = np.array([0.9, 0.1, 0.5, 0.3, 0.2, 0.2, 0.2, 0.4, 0.6, 0.1, 0.2])
    tie = np.array([0, 1, 2, 3, 5, 3, 4, 0, 1, 0, 1])
    m = per_impression(group, y, score, tie)
    l3, l5 = np.log2(3), np.log2(5)
    np.testing.assert_allclose(m["auc"], [1 / 4, 1 / 2, np.nan, np.nan])  # A: the pair (item2, item3) of 4
    np.testing.assert_allclose(m["mrr"], [(1 / 2 + 1 / 4) / 2, 1 / 2, np.nan, np.nan])
    ndcg_a = (1 / l3 + 1 / l5) / (1 + 1 / l3)
    np.testing.assert_allclose(m["ndcg@5"], [ndcg_a, 1 / l3, np.nan, np.nan])
    np.testing.assert_allclose(m["ndcg@10"], [ndcg_a, 1 / l3, np.nan, np.nan])
    assert m["n"].tolist() == [4, 3, 2, 2]
    assert m["n_pos"].tolist() == [2, 1, 0, 2]
    doc = evaluate_impressions(group, group, y, tie, {"a": score})
    assert doc["lists"]["a"]["auc"] == pytest.approx((1 / 4 + 1 / 2) / 2)
    assert (doc["n_impressions"], doc["n_scored"], doc["n_no_click"], doc["n_all_click"]) == (4, 2, 1, 1)


def _impressions(seed: int, n_imp: int = 300, ties: bool = False):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 25, n_imp)
    group = np.repeat(np.arange(n_imp), sizes)
    y = (rng.random(len(group)) < 0.15).astype(np.int64)
    score = rng.integers(0, 4, len(group)).astype(float) if ties else rng.random(len(group))
    tie = rng.permutation(len(group))
    order = rng.permutation(len(group))  # rows in any order
    return group[order], y[order], score[order], tie[order]


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_the_official_script_to_1e12(seed, ties):
    group, y, score, tie = _impressions(seed, ties=ties)
    want = official(group, y, score, tie)
    m = per_impression(group, y, score, tie)
    for k in METRICS:
        assert np.nanmean(m[k]) == pytest.approx(want[k], abs=1e-12), k


def test_distinct_scores_need_no_tie_rule_and_auc_is_sklearns():
    group, y, score, tie = _impressions(3)
    m = per_impression(group, y, score, tie)
    aucs = [roc_auc_score(y[group == g], score[group == g]) for g in np.unique(group)
            if 0 < y[group == g].sum() < (group == g).sum()]
    assert np.nanmean(m["auc"]) == pytest.approx(np.mean(aucs), abs=1e-12)


def test_intervals_and_paired_differences():
    group, y, score, tie = _impressions(4, n_imp=600)
    user = group // 3  # three impressions per user
    rng = np.random.default_rng(9)
    better = score + 0.8 * y  # a scorer that knows the clicks a little
    doc = evaluate_impressions(group, user, y, tie, {"smoothed_ctr": score, "same": score.copy(), "better": better,
                                                     "random": rng.random(len(y))}, seed=0)
    for name, row in doc["lists"].items():
        for k in METRICS:
            assert row[f"{k}_low"] <= row[k] <= row[f"{k}_high"], (name, k)
    same = doc["vs_smoothed_ctr"]["same"]
    assert same["auc"] == same["auc_low"] == same["auc_high"] == 0.0
    assert verdict(doc, "same") == "tied"
    assert verdict(doc, "better") == "above"
    assert doc["lists"]["random"]["auc_low"] < 0.5 < doc["lists"]["random"]["auc_high"]
    again = evaluate_impressions(group, user, y, tie, {"smoothed_ctr": score, "better": better}, seed=0)
    assert again["vs_smoothed_ctr"]["better"] == doc["vs_smoothed_ctr"]["better"]  # deterministic per seed
