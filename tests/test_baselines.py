"""Baselines: hand-made eligibility and ties by loops, logistic regression against scikit-learn, oracle NDCG against
scikit-learn's ndcg_score, and the run's metrics.json and charts carrying them under human names."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import ndcg_score

from ranking import data, viz
from ranking.config import CandidateConfig, LabelConfig, SplitConfig
from ranking.data import schema as S
from ranking.data import store
from ranking.data.dataset import Dataset
from ranking.evaluation import baselines as B
from ranking.prep.lists import PAD
from ranking.prep.split import prepare

CC = CandidateConfig()  # region, blocklist, seen and a 7-day age limit


def _tiny():
    """3 users × 7 items. Item 105 is EU-only, 106 is 30 days old, user 2 blocks publisher p2."""
    users = pd.DataFrame({
        S.USER_ID: [1, 2, 3], S.DEVICE: ["mobile"] * 3, S.REGION: ["NA", "EU", "NA"], S.SESSION: [5.0] * 3,
        S.BLOCKLIST: ["", "p2", ""],
        "topic_affinity_politics": np.array([0.5, 0.25, np.nan], np.float32),
        "topic_affinity_sports": np.array([0.25, 0.75, 0.5], np.float32)})
    content = pd.DataFrame({
        S.CONTENT_ID: np.arange(100, 107), S.PUBLISHER: ["p1", "p2", "p1", "p2", "p1", "p1", "p1"],
        S.TOPIC: ["politics", "sports", "tech", "politics", "sports", "politics", "sports"],
        S.QUALITY: np.array([0.25, 0.5, 0.75, 0.25, 0.5, 1.0, 1.0], np.float32),
        S.RESTRICTION: ["ALL", "ALL", "ALL", "ALL", "ALL", "EU", "ALL"],
        S.PUBLISHED: pd.to_datetime(["2025-04-01"] * 6 + ["2025-03-01"], utc=True)})
    # every row is training (min_history 99): "seen" = u1 {100, 101}, u2 {100}, u3 {103}
    inter = pd.DataFrame({
        S.USER_ID: [1, 1, 2, 3], S.CONTENT_ID: [100, 101, 100, 103], S.CLICK: [1, 1, 1, 0],
        S.DWELL: [0.0] * 4, S.SHARE: [1, 1, 0, 0], S.COMMENT: [0] * 4, S.HIDE: [0] * 4,
        S.EVENT_TS: pd.to_datetime("2025-04-02", utc=True) + pd.to_timedelta(range(4), unit="h")})
    ds = Dataset(users=users, content=content, interactions=inter,
                 affinity={"politics": "topic_affinity_politics", "sports": "topic_affinity_sports"})
    return prepare(ds, LabelConfig(), SplitConfig(test_fraction=0.1, min_history=99), seed=0)


def _by_loop(prep, score) -> list[list[int]]:
    """Eligible items of each user sorted by (score descending, item position), written out by hand."""
    blocked = {1: {"p2"}}
    seen = {0: {0, 1}, 1: {0}, 2: {3}}
    content = prep.dataset.content
    out = []
    for u, region in enumerate(["NA", "EU", "NA"]):
        ok = [i for i in range(prep.n_items)
              if content[S.RESTRICTION][i] in ("ALL", region) and content[S.PUBLISHER][i] not in blocked.get(u, ())
              and i not in seen[u] and i != 6]
        out.append(sorted(ok, key=lambda i, u=u: (-score(u, i), i)))
    return out


def test_heuristic_ranks_eligible_items_by_affinity_plus_quality():
    prep = _tiny()
    aff = {0: {"politics": 0.5, "sports": 0.25}, 1: {"politics": 0.25, "sports": 0.75}, 2: {"sports": 0.5}}
    topics = prep.dataset.content[S.TOPIC].tolist()
    quality = prep.dataset.content[S.QUALITY].tolist()
    want = _by_loop(prep, lambda u, i: aff[u].get(topics[i], 0.0) + quality[i])  # missing affinity counts 0
    got = B.heuristic_lists(prep, CC, width=10)
    for u in range(3):
        assert [int(i) for i in got.items[u] if i != PAD] == want[u]
    # worked out on paper: user 1's three eligible items all score 0.75 (a tech item with no stated affinity
    # among them), so item position decides; user 2 (EU, blocks p2) sees the EU-only item; user 3 states no
    # politics affinity, so politics counts 0
    assert want == [[2, 3, 4], [4, 5, 2], [1, 4, 2, 0]]


def test_popularity_ranks_eligible_items_by_users_with_a_positive_training_interaction():
    prep = _tiny()
    assert B.item_popularity(prep).tolist() == pytest.approx([1 / 3, 1 / 3, 0, 0, 0, 0, 0])  # only user 1 engaged
    got = B.popularity_lists(prep, CC, width=10)
    assert [[int(i) for i in row if i != PAD] for row in got.items] == [[2, 3, 4], [2, 4, 5], [0, 1, 2, 4]]
    assert B.popularity_lists(prep, CC, width=2).items.tolist() == [[2, 3], [2, 4], [0, 1]]


def _standardised_logreg(X, y, seed):
    """The baseline's model written out: z-scores by hand (population sd, constant columns unscaled) + sklearn."""
    mean, sd = X.mean(axis=0), X.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    model = LogisticRegression(C=1.0, max_iter=500, random_state=seed).fit((X - mean) / sd, y)
    return lambda Z: model.predict_proba((Z - mean) / sd)[:, 1]


def test_logistic_regression_reranks_stage1_candidates_like_sklearn(trained_small):
    prep, outs, seed = trained_small.prep, trained_small.outputs, trained_small.config.seed
    stage2 = outs["stage2"]
    table = stage2.model.table_
    # the run's label of each training row, by hand from its logged signals (default weights, dwell / 10 s)
    click, dwell, share, comment, hide = table.signals.T.astype(np.float64)
    label = 1.0 * click + 0.5 * dwell / 10.0 + 2.0 * share + 1.0 * comment - 1.0 * hide > 2.0
    assert label.any()
    assert not label.all()
    predict = _standardised_logreg(np.asarray(table.X, np.float64), label, seed)
    got = B.logreg_lists(prep, outs["stage1"].lists, stage2.model, stage2.lists.width, seed)
    assert got.width == stage2.lists.width
    cands = outs["stage1"].lists
    X, _, _, mask = stage2.model.features_for(prep, cands)
    p = np.full(cands.items.shape, np.nan)
    p[mask] = predict(np.asarray(X, np.float64))
    for user in range(0, prep.n_users, 7):
        listed = [int(x) for x in got.items[user] if x != PAD]
        mine = dict(zip(cands.items[user][mask[user]].tolist(), p[user][mask[user]], strict=True))
        kept = np.array([mine[x] for x in listed])
        assert np.all(np.diff(kept) <= 1e-6)  # listed best first by sklearn's probability
        rest = [v for x, v in mine.items() if x not in listed]
        assert not rest or kept.min() >= max(rest) - 1e-6  # nothing left out scores higher
        assert len(listed) == min(stage2.lists.width, int(mask[user].sum()))


def test_baselines_are_scored_like_stages_oracle_ndcg_against_sklearn(trained_small):
    ev, prep = trained_small.evaluation, trained_small.prep
    users = np.arange(prep.n_users)
    truth = prep.dataset.truth.rows(users)  # the default label: the oracle's gain clipped at 0
    mask, _ = prep.eligible(users, trained_small.config.stage1)
    lists = B.heuristic_lists(prep, trained_small.config.stage1, trained_small.post.lists.width)
    per_user = []
    for u in users:
        score = np.full(prep.n_items, -1.0)
        listed = lists.items[u][lists.items[u] != PAD]
        score[listed] = np.arange(len(listed), 0, -1)
        per_user.append(ndcg_score([np.where(mask[u], truth[u], 0.0)], [score], k=ev.k))
    assert ev.baselines["heuristic"]["oracle_ndcg@10"] == pytest.approx(np.mean(per_user), rel=1e-5)


def test_metrics_json_and_charts_carry_the_baselines_under_human_names(trained_small):
    ev = trained_small.evaluation
    doc = json.loads(data.json_bytes(store.metrics_document(ev, trained_small.timing_s, trained_small.config)))
    assert set(doc["baselines"]) == {"popularity", "smoothed_ctr", "heuristic", "freshness", "glm", "logreg"}
    for metrics in doc["baselines"].values():
        assert 0 < metrics["oracle_ndcg@10"] <= 1
        assert "ndcg@10" in metrics
    for key in ("oracle_ndcg@10", "ndcg@10"):
        fig = viz.baselines_vs_stages({s: ev.stages[s][key] for s in ev.stages}, ev.reference_values(key), key)
        lines = {t.name.split(":")[0]: t.y[0] for t in fig.data if t.type == "scatter"}
        assert set(lines) == {"Popularity (click count)", "Popularity (smoothed CTR)", "Affinity + quality heuristic",
                              "Freshness heuristic", "Per-signal GLM", "Logistic regression", "Random order"}
        # each line is that baseline's value of the metric on this axis (never another metric's)
        assert lines["Affinity + quality heuristic"] == pytest.approx(ev.baselines["heuristic"][key], abs=5e-4)
        assert lines["Random order"] == pytest.approx(ev.baseline[key], abs=5e-4)
        assert "oracle" not in fig.layout.title.text.lower() or key.startswith("oracle")


def test_a_re_evaluation_reuses_the_fitted_logistic_regression(trained_small, monkeypatch):
    prep, outs, cfg = trained_small.prep, trained_small.outputs, trained_small.config
    fits = []
    real = B.fit_logreg
    monkeypatch.setattr(B, "fit_logreg", lambda X, y, seed: fits.append(seed) or real(X, y, seed))
    first, _ = B.baseline_lists(prep, outs, cfg.stage1, 10, seed=3)
    again, _ = B.baseline_lists(prep, outs, cfg.stage1, 10, seed=3)
    assert fits == [3]  # fitted once for this stage-2 output, prepared data and seed
    assert again["logreg"] is first["logreg"]
    other, _ = B.baseline_lists(prep, outs, cfg.stage1, 10, seed=4)
    assert fits == [3, 4]  # another seed is another model
    assert other["logreg"].items.shape == first["logreg"].items.shape


def test_a_weight_move_refits_the_regression_on_the_same_features(trained_small, monkeypatch):
    """After a relabel (a weight move) the logistic regression is refitted on the new label, while stage 2's
    features of the candidates are computed once: the lists equal those of a cold computation."""
    from ranking.prep.split import relabel

    prep, outs, cfg = trained_small.prep, trained_small.outputs, trained_small.config
    stage1, stage2 = outs["stage1"].lists, outs["stage2"]
    moved = relabel(prep, LabelConfig(w_share=6.0, threshold=1.5))
    calls = []
    real = stage2.model.features_for
    monkeypatch.setattr(stage2.model, "features_for", lambda *a, **k: calls.append(1) or real(*a, **k),
                        raising=False)
    B._FEATURES_MEMO.clear()
    before = B.logreg_lists(prep, stage1, stage2.model, 10, cfg.seed)
    n_chunks = len(calls)
    after = B.logreg_lists(moved, stage1, stage2.model, 10, cfg.seed)
    assert len(calls) == n_chunks  # the features were reused
    B._FEATURES_MEMO.clear()
    cold = B.logreg_lists(moved, stage1, stage2.model, 10, cfg.seed)
    np.testing.assert_array_equal(after.items, cold.items)
    assert (after.items != before.items).any()  # another label, another regression, other lists
    other_split = prepare(prep.dataset, LabelConfig(), SplitConfig(method="random"), seed=9)
    B.logreg_lists(other_split, stage1, stage2.model, 10, cfg.seed)
    assert len(calls) > 2 * n_chunks  # another split: computed again


def test_features_beyond_the_memo_budget_are_computed_each_time(trained_small, monkeypatch):
    prep, outs, cfg = trained_small.prep, trained_small.outputs, trained_small.config
    stage1, stage2 = outs["stage1"].lists, outs["stage2"]
    calls = []
    real = stage2.model.features_for
    monkeypatch.setattr(stage2.model, "features_for", lambda *a, **k: calls.append(1) or real(*a, **k),
                        raising=False)
    monkeypatch.setattr(B, "FEATURES_MEMO_BYTES", 0)  # nothing fits: one chunk at a time, nothing kept
    B._FEATURES_MEMO.clear()
    first = B.logreg_lists(prep, stage1, stage2.model, 10, cfg.seed)
    n_chunks = len(calls)
    again = B.logreg_lists(prep, stage1, stage2.model, 10, cfg.seed)
    assert len(calls) == 2 * n_chunks
    assert stage2.model not in B._FEATURES_MEMO
    np.testing.assert_array_equal(first.items, again.items)
