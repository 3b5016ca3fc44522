"""Stage and transition evaluation: a tiny hand-made world by hand, a generated world against sklearn."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau, wilcoxon
from sklearn.metrics import log_loss, ndcg_score, roc_auc_score

from ranking import data
from ranking.config import CandidateConfig, LabelConfig, SplitConfig
from ranking.data import schema as S
from ranking.data import synth
from ranking.data.dataset import Dataset, DenseTruth
from ranking.evaluation import beyond as BA
from ranking.evaluation import evaluate as E
from ranking.prep.lists import PAD, RankedLists, order_rows, top_k
from ranking.prep.split import ITEM_POS, USER_POS, Prepared, prepare

CC = CandidateConfig()
NAN = np.nan
LOG3 = math.log2(3)


# --- a tiny hand-made world -----------------------------------------------------------------
# user 1: 101, 102 train; 103 (click+share+dwell 10 → 3.5: label 1, grade 3) and
#         104 (click+dwell 20 → 2.0: label 0, grade 1) held out
# user 2: 101, 102 train; 105 held out twice (score 0, then 2.5) → max: label 1, grade 2
# user 3: one interaction (106), train only

TRUTH = np.array([[0.1, 0.2, 0.9, 0.3, 0.8, 0.4],
                  [0.5, 0.5, 0.1, 0.7, 0.6, 0.2],
                  [0.3, 0.3, 0.3, 0.3, 0.3, 0.3]], dtype=np.float32)


def _tiny_dataset(truth: np.ndarray | None = TRUTH) -> Dataset:
    users = pd.DataFrame({
        S.USER_ID: np.array([1, 2, 3], dtype=np.int64), S.DEVICE: ["mobile", "desktop", "tablet"],
        S.REGION: ["NA", "EU", "NA"], S.SESSION: np.array([5, 6, 7], dtype=np.float32),
        S.BLOCKLIST: ["", "", ""], "topic_affinity_politics": np.array([0.1, 0.5, 0.9], dtype=np.float32),
    })
    content = pd.DataFrame({
        S.CONTENT_ID: np.arange(101, 107, dtype=np.int64), S.PUBLISHER: ["p1", "p2", "p1", "p2", "p1", "p2"],
        S.TOPIC: ["politics", "sports", "politics", "tech", "sports", "tech"],
        S.QUALITY: np.full(6, 0.5, dtype=np.float32), S.RESTRICTION: ["ALL"] * 6,
        S.PUBLISHED: pd.to_datetime(["2025-04-01"] * 6, utc=True),
    })
    t = pd.to_datetime("2025-04-02", utc=True) + pd.to_timedelta([1, 2, 3, 4, 1, 2, 3, 4, 1], unit="h")
    inter = pd.DataFrame({
        S.USER_ID: np.array([1, 1, 1, 1, 2, 2, 2, 2, 3], dtype=np.int64),
        S.CONTENT_ID: np.array([101, 102, 103, 104, 101, 102, 105, 105, 106], dtype=np.int64),
        S.CLICK: np.array([0, 0, 1, 1, 0, 0, 0, 1, 0], dtype=np.int8),
        S.DWELL: np.array([0, 0, 10, 20, 0, 0, 0, 30, 0], dtype=np.float64),
        S.SHARE: np.array([0, 0, 1, 0, 0, 0, 0, 0, 0], dtype=np.int8),
        S.COMMENT: np.zeros(9, dtype=np.int16), S.HIDE: np.zeros(9, dtype=np.int8), S.EVENT_TS: t,
    })
    return Dataset(users=users, content=content, interactions=inter,
                   affinity={"politics": "topic_affinity_politics"},
                   truth=DenseTruth(truth) if truth is not None else None)


@pytest.fixture(scope="module")
def tiny() -> Prepared:
    return prepare(_tiny_dataset(), LabelConfig(), SplitConfig(test_fraction=0.5, min_history=2), seed=0)


def _lists(rows: list[list[int]]) -> RankedLists:
    items = np.array(rows, dtype=np.int32)
    scores = np.where(items == PAD, np.nan, -np.arange(items.shape[1], dtype=np.float32)).astype(np.float32)
    return RankedLists(items, scores)


TINY_LISTS = [[3, 2, 5, PAD], [3, 4, 0, 1], [4, PAD, PAD, PAD]]  # item positions (101 → 0)


def test_relevance_lookup_by_hand(tiny):
    held = sorted(map(tuple, tiny.test[[USER_POS, ITEM_POS]].to_numpy().tolist()))
    assert held == [(0, 2), (0, 3), (1, 4), (1, 4)]
    lists = _lists(TINY_LISTS)
    np.testing.assert_array_equal(E.relevance_lookup(tiny, lists, "label"),
                                  [[0, 1, 0, NAN], [0, 1, 0, 0], [0, NAN, NAN, NAN]])
    # duplicate held-out pair (user 2, item 105) takes the max grade; item 104 is held out for user 1 only
    np.testing.assert_array_equal(E.relevance_lookup(tiny, lists, "grade"),
                                  [[1, 3, 0, NAN], [0, 2, 0, 0], [0, NAN, NAN, NAN]])


def test_relevance_lookup_rejects_bad_input(tiny):
    with pytest.raises(ValueError, match="valid: label, grade"):
        E.relevance_lookup(tiny, _lists(TINY_LISTS), "score")
    with pytest.raises(ValueError, match="one per user"):
        E.relevance_lookup(tiny, _lists(TINY_LISTS[:2]), "label")


def test_oracle_gains_and_ideal_over_eligible_items(tiny):
    gains, ideal = E.oracle_gains(tiny, _lists(TINY_LISTS), CC, k=2)
    np.testing.assert_allclose(gains[0, :3], TRUTH[0, [3, 2, 5]])
    assert np.isnan(gains[0, 3])
    # user 1 has seen items 0 and 1: the best eligible are 2 (0.9) and 4 (0.8), not the seen ones
    np.testing.assert_allclose(ideal[0], [0.9, 0.8])
    np.testing.assert_allclose(ideal[1], [0.7, 0.6])  # user 2: items 0, 1 seen (0.5 each) are excluded


def test_evaluate_stage_on_tiny_data_says_it_is_too_small(tiny):
    ev = E.evaluate_stage(tiny, _lists(TINY_LISTS), k=3, cand_config=CC, stage="s")
    assert ev.metrics["n_users_evaluated"] == 2
    assert math.isnan(ev.metrics["ndcg@3"])
    assert math.isnan(ev.metrics["map@3"])
    assert any("only 2 users" in n for n in ev.notes)
    # per-user values are still there for transitions
    np.testing.assert_allclose(ev.per_user["ndcg@3"], [1 / LOG3, 1 / LOG3, NAN])
    graded_u0 = (1 + 7 / LOG3) / (7 + 1 / LOG3)  # gains 2^1−1, 2^3−1 vs ideal grades 3, 1
    assert ev.per_user["ndcg@3_graded"][0] == pytest.approx(graded_u0)
    np.testing.assert_allclose(ev.per_user["recall@4"], [1.0, 1.0, NAN])
    # the oracle needs no held-out data: user 1 list [3, 2, 5] vs best eligible [2, 4, 5] (linear gains)
    dcg = TRUTH[0, 3] + TRUTH[0, 2] / LOG3 + TRUTH[0, 5] / 2
    idcg = 0.9 + 0.8 / LOG3 + 0.4 / 2
    assert ev.per_user["oracle_ndcg@3"][0] == pytest.approx(dcg / idcg, rel=1e-6)
    assert ev.metrics["n_users_oracle"] == 3
    assert ev.metrics["coverage@3"] == pytest.approx(5 / 6)


def test_no_truth_gives_nan_oracle_and_a_note():
    prep = prepare(_tiny_dataset(truth=None), LabelConfig(), SplitConfig(test_fraction=0.5, min_history=2), 0)
    ev = E.evaluate_stage(prep, _lists(TINY_LISTS), k=3, cand_config=CC, stage="s")
    assert math.isnan(ev.metrics["oracle_ndcg@3"])
    assert any("No ground truth" in n for n in ev.notes)
    with pytest.raises(ValueError, match="no ground truth"):
        E.oracle_gains(prep, _lists(TINY_LISTS), CC, 3)


def test_pair_scores_auc_logloss_and_ignored_pairs(tiny):
    pairs = (np.array([0, 0, 1, 0]), np.array([2, 3, 4, 0]), np.array([0.9, 0.2, 0.6, 0.5]))
    ev = E.evaluate_stage(tiny, _lists(TINY_LISTS), k=3, cand_config=CC, stage="s", pair_scores=pairs)
    y, p = [1, 0, 1], [0.9, 0.2, 0.6]  # (user 1, item 101) is not held out
    assert ev.metrics["n_pairs"] == 3
    assert ev.metrics["auc"] == pytest.approx(roc_auc_score(y, p))
    assert ev.metrics["logloss"] == pytest.approx(log_loss(y, p))
    assert ev.calibration is not None
    assert ev.calibration["count"].sum() == 3
    assert any("1 scored pairs are not held-out" in n for n in ev.notes)


def test_margins_get_auc_but_no_logloss_and_single_class_no_auc(tiny):
    margins = (np.array([0, 0, 1]), np.array([2, 3, 4]), np.array([2.5, -1.0, 0.3]))
    ev = E.evaluate_stage(tiny, _lists(TINY_LISTS), k=3, cand_config=CC, stage="s", pair_scores=margins)
    assert ev.metrics["auc"] == pytest.approx(1.0)
    assert math.isnan(ev.metrics["logloss"])
    assert ev.calibration is None
    assert any("not probabilities" in n for n in ev.notes)
    single = (np.array([0]), np.array([2]), np.array([0.9]))
    ev = E.evaluate_stage(tiny, _lists(TINY_LISTS), k=3, cand_config=CC, stage="s", pair_scores=single)
    assert math.isnan(ev.metrics["auc"])
    assert any("single class" in n for n in ev.notes)


def test_compare_stages_with_too_few_users(tiny):
    a = _lists(TINY_LISTS)
    tr = E.compare_stages(tiny, a, a, np.array([0.5, 0.2, NAN]), np.array([0.6, 0.1, NAN]), stage="x→y")
    assert tr.metrics["n_users_paired"] == 2
    assert tr.metrics["improved"] == 0.5
    assert math.isnan(tr.metrics["wilcoxon_p"])
    assert any("only 2 users" in n for n in tr.notes)
    np.testing.assert_allclose(tr.per_user["kendall_tau"], [1.0, 1.0, NAN])


# --- a small generated world ------------------------------------------------------------------

K = 10


@pytest.fixture(scope="module")
def world() -> Prepared:
    spec = synth.WorldSpec(n_users=300, n_items=120, n_interactions=6000, seed=3)
    return prepare(synth.generate(spec).to_dataset(), LabelConfig(), SplitConfig(), seed=0)


@pytest.fixture(scope="module")
def stage_lists(world) -> tuple[RankedLists, np.ndarray, np.ndarray]:
    users = np.arange(world.n_users)
    truth = world.dataset.truth.rows(users)
    mask, _ = world.eligible(users, CC)
    noisy = truth + np.random.default_rng(0).normal(0, 0.15, truth.shape).astype(np.float32)
    return top_k(noisy, 30, mask), truth, mask


def _held_out_table(prep: Prepared) -> pd.DataFrame:
    return prep.test.groupby([USER_POS, ITEM_POS])[[S.LABEL, S.GRADE]].max().reset_index()


def test_held_out_ndcg_matches_sklearn(world, stage_lists):
    lists, _, _ = stage_lists
    ev = E.evaluate_stage(world, lists, k=K, cand_config=CC, stage="s1")
    held = _held_out_table(world)
    checked = 0
    for u, grp in held.groupby(USER_POS):
        y_label, y_grade = np.zeros(world.n_items), np.zeros(world.n_items)
        y_label[grp[ITEM_POS]] = grp[S.LABEL]
        y_grade[grp[ITEM_POS]] = 2.0 ** grp[S.GRADE] - 1  # exp gains as sklearn's linear gains
        score = np.full(world.n_items, -1.0)
        score[lists.items[u]] = np.arange(lists.width, 0, -1)  # listed items first, in list order
        if y_label.sum() > 0:
            assert ev.per_user["ndcg@10"][u] == pytest.approx(ndcg_score([y_label], [score], k=K))
            listed = set(lists.items[u].tolist())
            positives = set(grp.loc[grp[S.LABEL] > 0, ITEM_POS].tolist())
            assert ev.per_user["recall@30"][u] == pytest.approx(len(listed & positives) / len(positives))
            checked += 1
        else:
            assert np.isnan(ev.per_user["ndcg@10"][u])
        if y_grade.sum() > 0:
            assert ev.per_user["ndcg@10_graded"][u] == pytest.approx(ndcg_score([y_grade], [score], k=K))
    assert checked == ev.metrics["n_users_evaluated"] >= E.MIN_USERS
    assert ev.metrics["ndcg@10"] == pytest.approx(np.nanmean(ev.per_user["ndcg@10"]))
    assert not ev.notes


def test_oracle_ndcg_matches_sklearn_and_is_one_for_the_truth(world, stage_lists):
    lists, truth, mask = stage_lists
    ev = E.evaluate_stage(world, lists, k=K, cand_config=CC, stage="s1")
    for u in range(0, world.n_users, 37):
        score = np.full(world.n_items, -1.0)
        score[lists.items[u]] = np.arange(lists.width, 0, -1)
        expected = ndcg_score([np.where(mask[u], truth[u], 0.0)], [score], k=K)
        assert ev.per_user["oracle_ndcg@10"][u] == pytest.approx(expected, rel=1e-5)
    best = E.evaluate_stage(world, top_k(truth, K, mask), k=K, cand_config=CC, stage="best")
    np.testing.assert_allclose(best.per_user["oracle_ndcg@10"], 1.0, rtol=1e-6)
    base = E.random_baseline(world, K, CC, seed=1)
    assert base.metrics["oracle_ndcg@10"] < ev.metrics["oracle_ndcg@10"] < 1.0


def test_oracle_follows_the_label_weights(world):
    """The oracle's gain is the expected score under the run's label: the best list under one label is
    perfect there and not under another, and oracle NDCG moves with the weights."""
    shares = LabelConfig(w_click=0, w_dwell=0, w_share=1, w_comment=0, w_hide=0, threshold=0.5)
    dwell = LabelConfig(w_click=0, w_dwell=1, w_share=0, w_comment=0, w_hide=0, threshold=0.5)
    truth = world.dataset.truth
    preps = {name: prepare(world.dataset, cfg, SplitConfig(), seed=0) for name, cfg in
             (("shares", shares), ("dwell", dwell))}
    users = np.arange(world.n_users)
    mask, _ = world.eligible(users, CC)
    best_dwell = top_k(truth.gain(users, dwell), K, mask)
    on_dwell = E.evaluate_stage(preps["dwell"], best_dwell, k=K, cand_config=CC, stage="d")
    on_shares = E.evaluate_stage(preps["shares"], best_dwell, k=K, cand_config=CC, stage="d")
    np.testing.assert_allclose(on_dwell.per_user["oracle_ndcg@10"], 1.0, rtol=1e-6)
    assert on_shares.metrics["oracle_ndcg@10"] < 0.9
    gains, ideal = E.oracle_gains(preps["shares"], best_dwell, CC, K)
    expected = np.maximum(truth.gain(users, shares), 0)
    np.testing.assert_array_equal(gains, np.take_along_axis(expected, best_dwell.items, 1))
    np.testing.assert_allclose(ideal[:, 0], np.where(mask, expected, -np.inf).max(1), rtol=1e-6)


@pytest.mark.parametrize("mode", ["median", "per_topic"])
def test_oracle_divides_dwell_as_the_label_does(world, mode):
    cfg = LabelConfig(expected_dwell=mode)
    prep = prepare(world.dataset, cfg, SplitConfig(), seed=0)
    inter, content = world.dataset.interactions, world.dataset.content
    if mode == "median":
        norm = float(np.median(inter[S.DWELL]))
    else:  # each topic's median dwell over all interactions, for each item's topic
        topic = content.set_index(S.CONTENT_ID)[S.TOPIC].astype(str).reindex(inter[S.CONTENT_ID]).to_numpy()
        med = inter[S.DWELL].groupby(topic).median()
        norm = med.reindex(content[S.TOPIC].astype(str)).to_numpy()
    norm = np.where(np.asarray(norm) > 0, norm, 1.0)  # the label's rule: a median of 0 s becomes 1 s
    users = np.arange(prep.n_users)
    lists = top_k(np.random.default_rng(0).random((prep.n_users, prep.n_items)).astype(np.float32), K,
                  prep.eligible(users, CC)[0])
    gains, _ = E.oracle_gains(prep, lists, CC, K)
    expected = np.maximum(world.dataset.truth.gain(users, cfg, norm), 0)
    np.testing.assert_array_equal(gains, np.take_along_axis(expected, lists.items, 1))
    assert not np.array_equal(expected, world.dataset.truth.rows(users))  # not the default label's 10 s


def test_random_baseline_is_deterministic_and_eligible(world):
    a = E.random_baseline(world, K, CC, seed=5)
    b = E.random_baseline(world, K, CC, seed=5)
    c = E.random_baseline(world, K, CC, seed=6)
    assert a.metrics == b.metrics
    assert a.metrics != c.metrics
    mask, _ = world.eligible(np.arange(world.n_users), CC)
    # random lists touch nearly every item that is eligible for someone (the age limit leaves ~1/4 of the catalog)
    assert a.metrics["coverage@10"] > 0.9 * mask.any(axis=0).mean()
    lists = E.random_lists(world, K, CC, seed=5)
    rows, cols = np.nonzero(lists.items != PAD)
    assert mask[rows, lists.items[rows, cols]].all()
    np.testing.assert_array_equal(lists.lengths, np.minimum(mask.sum(axis=1), K))


def test_compare_stages_tau_against_scipy_and_wilcoxon(world, stage_lists):
    a, _, _ = stage_lists
    rng = np.random.default_rng(2)
    b = order_rows(a.items[:, :15], rng.random((world.n_users, 15)).astype(np.float32))
    ev_a = E.evaluate_stage(world, a, k=K, cand_config=CC, stage="a")
    ev_b = E.evaluate_stage(world, b, k=K, cand_config=CC, stage="b")
    tr = E.compare_stages(world, a, b, ev_a.per_user["oracle_ndcg@10"], ev_b.per_user["oracle_ndcg@10"])
    for u in range(0, world.n_users, 29):
        pos_in_a = [int(np.flatnonzero(a.items[u] == i)[0]) for i in b.items[u]]
        expected = kendalltau(pos_in_a, np.arange(15)).statistic
        assert tr.per_user["kendall_tau"][u] == pytest.approx(expected)
    d = ev_b.per_user["oracle_ndcg@10"] - ev_a.per_user["oracle_ndcg@10"]
    assert tr.metrics["improved"] + tr.metrics["degraded"] + tr.metrics["unchanged"] == pytest.approx(1.0)
    assert tr.metrics["degraded"] == pytest.approx(np.mean(d < -E.TIE_TOL))
    assert tr.metrics["wilcoxon_p"] == pytest.approx(wilcoxon(d[np.abs(d) > E.TIE_TOL]).pvalue)
    assert tr.metrics["wilcoxon_p"] < 0.01  # shuffling a good list hurts


def test_compare_identical_and_reversed_lists(world, stage_lists):
    a, _, _ = stage_lists
    same = E.compare_stages(world, a, a.head(K), np.ones(world.n_users), np.ones(world.n_users))
    np.testing.assert_allclose(same.per_user["kendall_tau"], 1.0)
    assert same.metrics["unchanged"] == 1.0
    assert math.isnan(same.metrics["wilcoxon_p"])
    assert any("unchanged for every user" in n for n in same.notes)
    rev = order_rows(a.items[:, :K], np.arange(K, dtype=np.float32)[None, :].repeat(world.n_users, 0))
    tr = E.compare_stages(world, a, rev, np.ones(world.n_users), np.ones(world.n_users))
    np.testing.assert_allclose(tr.per_user["kendall_tau"], -1.0)


def test_evaluate_pipeline_shape_and_json(world, stage_lists):
    a, truth, _ = stage_lists
    test = world.test
    u, i = test[USER_POS].to_numpy(), test[ITEM_POS].to_numpy()
    out = E.evaluate_pipeline(world, {"stage1": a, "stage2": a.head(K)}, k=K, cand_config=CC,
                              pair_scores={"stage2": (u, i, truth[u, i])}, seed=0)
    assert set(out.stages) == {"stage1", "stage2"}
    assert set(out.transitions) == {"stage1→stage2"}
    assert out.basis == "oracle_ndcg@10"
    assert out.has_oracle
    assert out.stages["stage2"]["auc"] > 0.6
    assert out.headline("stage2") == out.stages["stage2"]["oracle_ndcg@10"]
    assert out.value("stage2", "ndcg") == out.stages["stage2"]["ndcg@10"]
    # NaN marks "not measurable" in the result; the saved document is strict JSON (null instead)
    from ranking.config import PipelineConfig
    from ranking.data import store

    doc = json.loads(data.json_bytes(store.metrics_document(out, {"total": 1.0}, PipelineConfig())),
                     parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert {"k", "basis", "stages", "transitions", "baseline", "notes", "calibration", "timing_s", "config"} <= set(doc)
    assert doc["stages"]["stage2"]["auc"] == out.stages["stage2"]["auc"]
    nan_metrics = [m for m, v in out.stages["stage1"].items() if isinstance(v, float) and math.isnan(v)]
    assert all(doc["stages"]["stage1"][m] is None for m in nan_metrics)
    assert data.json_text({"x": float("nan"), "y": [np.float32("inf")]}) == '{"x": null, "y": [null]}'
    # the shared chunked pass gives what the stand-alone calls give
    alone = E.evaluate_stage(world, a, k=K, cand_config=CC, stage="stage1").metrics
    assert {m: v for m, v in out.stages["stage1"].items() if m in alone} == alone
    assert set(out.stages["stage1"]) - set(alone) == {f"{b}@{K}" for b in BA.KEYS}  # + beyond accuracy
    assert out.baseline == E.random_baseline(world, K, CC, seed=0).metrics


def test_no_truth_world_transitions_use_held_out(world, stage_lists):
    a, _, _ = stage_lists
    prep = dataclasses.replace(world, dataset=dataclasses.replace(world.dataset, truth=None))
    out = E.evaluate_pipeline(prep, {"stage1": a, "stage2": a.head(K)}, k=K, cand_config=CC, seed=0)
    assert out.basis == "ndcg@10"
    assert not out.has_oracle
    assert math.isnan(out.baseline["oracle_ndcg@10"])
    assert sum("No ground truth" in n for n in out.notes) == 1


def test_no_held_out_data_at_all():
    prep = prepare(_tiny_dataset(), LabelConfig(), SplitConfig(min_history=10), 0)
    assert prep.test.empty
    ev = E.evaluate_stage(prep, _lists(TINY_LISTS), k=3, cand_config=CC, stage="s",
                          pair_scores=(np.array([0]), np.array([2]), np.array([0.5])))
    assert ev.metrics["n_users_evaluated"] == 0
    assert math.isnan(ev.metrics["ndcg@3"])
    assert math.isnan(ev.metrics["auc"])
    assert ev.metrics["n_pairs"] == 0
    assert np.isnan(E.relevance_lookup(prep, _lists(TINY_LISTS))).sum() == 4  # padding only, rest 0
    empty = RankedLists(np.full((3, 0), PAD, np.int32), np.full((3, 0), np.nan, np.float32))
    ev = E.evaluate_stage(prep, empty, k=3, cand_config=CC, stage="empty")
    assert math.isnan(ev.metrics["oracle_ndcg@3"])
    assert ev.metrics["coverage@3"] == 0.0


def test_seed_tables_are_too_small_and_say_so(seed_dir):
    from ranking import data

    prep = prepare(data.load_dataset(seed_dir), LabelConfig(), SplitConfig(), seed=42)
    ev = E.random_baseline(prep, K, CC, seed=42)
    assert math.isnan(ev.metrics["ndcg@10"])
    assert math.isnan(ev.metrics["oracle_ndcg@10"])
    assert any("held-out ranking metrics would be noise" in n for n in ev.notes)
    assert any("No ground truth" in n for n in ev.notes)
