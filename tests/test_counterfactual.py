"""Off-policy estimates: IPS, SNIPS and DR against a plain loop; unavailable (with a reason) without propensities."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

from ranking import data
from ranking.config import CandidateConfig, LabelConfig, SplitConfig
from ranking.data import schema as S
from ranking.data import store
from ranking.data.dataset import Dataset
from ranking.evaluation import counterfactual as CF
from ranking.evaluation import evaluate as E
from ranking.prep.lists import PAD, RankedLists
from ranking.prep.split import ITEM_POS, USER_POS, prepare

LISTS = np.array([[3, 1, 4, PAD], [0, 2, PAD, PAD], [PAD, PAD, PAD, PAD]])
LOG = {"user": np.array([0, 0, 0, 1, 1, 2]), "item": np.array([1, 4, 0, 2, 3, 1]),
       "propensity": np.array([0.5, 0.25, 0.1, 0.8, 0.4, 0.2]), "reward": np.array([2.0, -1.0, 3.0, 1.0, 4.0, 5.0])}
R_HAT = np.array([0.5, 1.0, 1.5, 2.0, -0.5])


R_SLOTS = np.where(LISTS != PAD, R_HAT[np.maximum(LISTS, 0)], 0.0)


def _hand(lists: np.ndarray, k: int, log=LOG) -> dict[str, float]:
    """IPS, clipped IPS, SNIPS and DR written as loops over impressions and list slots (module docstring)."""
    def d(r: int) -> float:
        return 1 / math.log2(r + 2)

    n = len(log["user"])
    ips = clipped = snips_num = snips_den = dr = 0.0
    for u, a, p, r in zip(log["user"], log["item"], log["propensity"], log["reward"], strict=True):
        row = [i for i in lists[u][:k] if i != PAD]
        big_d = sum(d(j) for j in range(len(row)))
        w = d(row.index(a)) / p if a in row else 0.0
        omega = w / big_d if big_d else 0.0
        ips += w * r / n
        clipped += min(omega, CF.CLIP) * big_d * r / n
        snips_num += omega * big_d * r
        snips_den += omega
        dr += (sum(d(j) * R_HAT[b] for j, b in enumerate(row)) + w * (r - R_HAT[a])) / n
    return {"ips": ips, "clipped_ips": clipped, "snips": snips_num / snips_den, "dr": dr}


@pytest.mark.parametrize("k", [2, 3, 10])
def test_ips_clipped_snips_dr_match_a_loop(k):
    got = CF.estimate(LOG, LISTS, k, 5, R_HAT[LOG["item"]], R_SLOTS)
    want = _hand(LISTS, k)
    for key in CF.ESTIMATORS:
        assert got[key] == pytest.approx(want[key]), key
    assert got["n_impressions"] == 6


def test_clipping_caps_the_normalised_weight():
    log = {**LOG, "propensity": np.array([0.5, 0.001, 0.1, 0.8, 0.4, 0.2])}  # item 4 of user 0: ω ≫ CLIP
    got = CF.estimate(log, LISTS, 3, 5, R_HAT[log["item"]], R_SLOTS)
    want = _hand(LISTS, 3, log)
    assert got["clipped_ips"] == pytest.approx(want["clipped_ips"])
    assert got["clipped_ips"] != pytest.approx(got["ips"])


def test_target_policy_is_the_dcg_discount_over_the_users_list():
    probs = CF.target_probabilities(LISTS, 10)
    d = [1, 1 / math.log2(3), 1 / math.log2(4)]
    assert probs[0, :3] == pytest.approx(np.array(d) / sum(d))
    assert probs[1, :2] == pytest.approx(np.array(d[:2]) / sum(d[:2]))
    assert probs[2].tolist() == [0.0] * 4  # no list, no action


def test_an_estimate_with_no_matching_impression_is_zero_ips_and_undefined_snips():
    got = CF.estimate(LOG, np.array([[2], [4], [0]]), 1, 5, R_HAT[LOG["item"]], np.zeros((3, 1)))
    assert got["ips"] == 0.0
    assert np.isnan(got["snips"])
    assert got["n_matched"] == 0


def test_order_agreement_counts_concordant_pairs_by_hand():
    truth = {"a": 0.1, "b": 0.2, "c": 0.3}
    values = {"a": {"ips": 1.0, "snips": 3.0, "dr": 1.0}, "b": {"ips": 2.0, "snips": 2.0, "dr": 3.0},
              "c": {"ips": 3.0, "snips": 1.0, "dr": 2.0}}
    got = CF.order_agreement(values, truth)
    assert got["ips"] == 1.0
    assert got["snips"] == -1.0
    assert got["dr"] == pytest.approx((2 - 1) / 3)  # pairs ab, ac concordant; bc discordant


def _tiny(propensity: list[float] | None):
    users = pd.DataFrame({S.USER_ID: [1, 2], S.DEVICE: ["mobile"] * 2, S.REGION: ["NA"] * 2,
                          S.SESSION: [5.0, 5.0], S.BLOCKLIST: ["", ""]})
    content = pd.DataFrame({
        S.CONTENT_ID: [101, 102, 103], S.PUBLISHER: ["p1", "p2", "p1"], S.TOPIC: ["politics", "sports", "politics"],
        S.QUALITY: [0.5, 0.5, 0.5], S.RESTRICTION: ["ALL"] * 3,
        S.PUBLISHED: pd.to_datetime(["2025-04-01"] * 3, utc=True)})
    inter = pd.DataFrame({
        S.USER_ID: [1, 1, 1, 2, 2, 2], S.CONTENT_ID: [101, 102, 103, 101, 102, 103],
        S.CLICK: [1, 0, 1, 0, 1, 1], S.DWELL: [10.0, 0, 20, 0, 5, 0], S.SHARE: [1, 0, 0, 0, 0, 1],
        S.COMMENT: [0] * 6, S.HIDE: [0, 1, 0, 0, 0, 0],
        S.EVENT_TS: pd.to_datetime("2025-04-02", utc=True) + pd.to_timedelta(range(6), unit="h")})
    if propensity is not None:
        inter[S.POSITION] = [1, 2, 3, 1, 2, 3]
        inter[S.PROPENSITY] = propensity
    ds = Dataset(users=users, content=content, interactions=inter, affinity={})
    return prepare(ds, LabelConfig(), SplitConfig(test_fraction=0.34, min_history=2), seed=0)


def test_logged_rewards_are_divided_by_the_slots_examination():
    prep = _tiny([0.5] * 6)
    log, _ = CF.logged(prep)
    test = prep.test
    want = test[S.SCORE].to_numpy() * np.log2(test[S.POSITION].to_numpy() + 1.0)  # r / (1 / log2(slot + 1))
    np.testing.assert_allclose(log["reward"], want)


@pytest.mark.parametrize(("propensity", "fragment"), [(None, "no logged propensities"),
                                                      ([np.nan] * 6, "no held-out impression")])
def test_without_propensities_estimates_are_unavailable_with_a_reason(propensity, fragment):
    prep = _tiny(propensity)
    lists = {"stage1": RankedLists(np.array([[2, 0], [1, 2]], np.int32), np.array([[2, 1], [2, 1]], np.float32))}
    ev = E.evaluate_pipeline(prep, lists, k=2, cand_config=CandidateConfig(max_age_days=0))
    doc = json.loads(data.json_bytes(ev.to_document()))  # strict JSON: no NaN anywhere in it
    cf = doc["counterfactual"]
    assert cf["available"] is False
    assert fragment in cf["reason"]
    assert cf["values"] == {}
    assert cf["agreement"] == cf["agreement_all"] == {}


def test_a_run_on_a_generated_world_estimates_every_list_like_a_plain_loop(trained_small):
    ev = trained_small.evaluation
    cf = ev.counterfactual
    assert cf["available"]
    assert set(cf["values"]) == {*ev.stages, *ev.baselines}
    assert set(cf["agreement"]) == set(cf["agreement_all"]) == {"ips", "clipped_ips", "snips", "dr", "heldout_ndcg"}
    # agreement over the stage lists is Kendall τ of the stored values against the stored oracle NDCG
    stages = list(ev.stages)
    oracle = [ev.stages[s]["oracle_ndcg@10"] for s in stages]
    snips = [cf["values"][s]["snips"] for s in stages]
    assert cf["agreement"]["snips"] == pytest.approx(kendalltau(snips, oracle).statistic)
    # IPS of the final list from the held-out rows, row by row: d(rank) / p × score / examination(slot)
    prep, k = trained_small.prep, ev.k
    items = trained_small.post.lists.items
    total = 0.0
    test = prep.test
    for u, i, p, r, q in zip(test[USER_POS], test[ITEM_POS], test[S.PROPENSITY], test[S.SCORE], test[S.POSITION],
                             strict=True):
        row = [int(x) for x in items[u][:k] if x != PAD]
        if int(i) in row:
            total += 1 / math.log2(row.index(int(i)) + 2) / p * r * math.log2(q + 1)
    assert cf["values"]["final"]["ips"] == pytest.approx(total / len(test))
    doc = json.loads(data.json_bytes(store.metrics_document(ev, trained_small.timing_s, trained_small.config)))
    assert doc["counterfactual"]["values"]["final"]["ips"] == pytest.approx(total / len(test))
    # every estimate has its interval, the truth's value and an effective sample size; stage lists are paired
    for name, row in cf["values"].items():
        for est in CF.ESTIMATORS:
            assert row[f"{est}_low"] <= row[est] <= row[f"{est}_high"], (name, est)
        assert np.isfinite(row["true_value"])
        assert 0 < row["effective_sample_size"] <= row["n_impressions"]
    assert "stage2→final" in cf["differences"]
    pair = cf["differences"]["stage2→final"]
    assert pair["true"] == pytest.approx(cf["values"]["final"]["true_value"] - cf["values"]["stage2"]["true_value"])
    for est in CF.ESTIMATORS:
        assert pair[f"{est}_covers"] == (pair[f"{est}_low"] <= pair["true"] <= pair[f"{est}_high"])
    assert cf["reward_model"].startswith("stage 2's predicted value")


def test_true_value_is_the_examination_weighted_truth_of_the_list(trained_small):
    """The estimand by hand: mean over logged rows of Σ_r d(r) · truth gain of the user's r-th item."""
    from ranking.prep import labels as L

    prep, ev = trained_small.prep, trained_small.evaluation
    log, _ = CF.logged(prep)
    norm = L.expected_dwell_per_item(prep.interactions, prep.dataset.content, prep.labels)
    gain = prep.dataset.truth.gain(np.arange(prep.n_users), prep.labels, norm)
    items = trained_small.lists()["stage2"].items
    per_user = [sum(gain[u, i] / math.log2(r + 2) for r, i in enumerate(items[u][:ev.k]) if i != PAD)
                for u in range(prep.n_users)]
    want = np.mean([per_user[u] for u in log["user"]])
    assert ev.counterfactual["values"]["stage2"]["true_value"] == pytest.approx(want, rel=1e-5)
