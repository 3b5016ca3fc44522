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


def _hand(lists: np.ndarray, k: int) -> dict[str, float]:
    """IPS, SNIPS, DR written as loops over impressions and list slots (module docstring definitions)."""
    def pi(u: int, item: int) -> float:
        row = [i for i in lists[u][:k] if i != PAD]
        disc = [1 / math.log2(r + 2) for r in range(len(row))]
        return disc[row.index(item)] / sum(disc) if item in row else 0.0

    n = len(LOG["user"])
    ips = snips_num = snips_den = dr = 0.0
    for u, a, p, r in zip(LOG["user"], LOG["item"], LOG["propensity"], LOG["reward"], strict=True):
        w = pi(u, a) / p
        ips += w * r / n
        snips_num += w * r
        snips_den += w
        row = [i for i in lists[u][:k] if i != PAD]
        dr += (sum(pi(u, b) * R_HAT[b] for b in row) + w * (r - R_HAT[a])) / n
    return {"ips": ips, "snips": snips_num / snips_den, "dr": dr}


@pytest.mark.parametrize("k", [2, 3, 10])
def test_ips_snips_dr_match_a_loop(k):
    got = CF.estimate(LOG, LISTS, k, R_HAT, n_items=5)
    want = _hand(LISTS, k)
    for key in CF.ESTIMATORS:
        assert got[key] == pytest.approx(want[key]), key
    assert got["n_impressions"] == 6


def test_target_policy_is_the_dcg_discount_over_the_users_list():
    probs = CF.target_probabilities(LISTS, 10)
    d = [1, 1 / math.log2(3), 1 / math.log2(4)]
    assert probs[0, :3] == pytest.approx(np.array(d) / sum(d))
    assert probs[1, :2] == pytest.approx(np.array(d[:2]) / sum(d[:2]))
    assert probs[2].tolist() == [0.0] * 4  # no list, no action


def test_an_estimate_with_no_matching_impression_is_zero_ips_and_undefined_snips():
    got = CF.estimate(LOG, np.array([[2], [4], [0]]), 1, R_HAT, n_items=5)
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


def test_reward_model_is_the_shrunk_item_mean_of_training_rewards():
    prep = _tiny([0.5] * 6)
    train = prep.train
    r, items = train[S.SCORE].to_numpy(), train[ITEM_POS].to_numpy()
    m, glob = CF.PRIOR_IMPRESSIONS, r.mean()
    want = [(r[items == i].sum() + m * glob) / ((items == i).sum() + m) for i in range(3)]
    assert CF.reward_model(prep) == pytest.approx(want)


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
    assert set(cf["agreement"]) == set(cf["agreement_all"]) == {"ips", "snips", "dr", "heldout_ndcg"}
    # agreement over the stage lists is Kendall τ of the stored values against the stored oracle NDCG
    stages = list(ev.stages)
    oracle = [ev.stages[s]["oracle_ndcg@10"] for s in stages]
    snips = [cf["values"][s]["snips"] for s in stages]
    assert cf["agreement"]["snips"] == pytest.approx(kendalltau(snips, oracle).statistic)
    # IPS of the final list from the held-out rows, row by row
    prep, k = trained_small.prep, ev.k
    items = trained_small.post.lists.items
    total = 0.0
    test = prep.test
    for u, i, p, r in zip(test[USER_POS], test[ITEM_POS], test[S.PROPENSITY], test[S.SCORE], strict=True):
        row = [int(x) for x in items[u][:k] if x != PAD]
        if int(i) in row:
            disc = [1 / math.log2(j + 2) for j in range(len(row))]
            total += disc[row.index(int(i))] / sum(disc) / p * r
    assert cf["values"]["final"]["ips"] == pytest.approx(total / len(test))
    doc = json.loads(data.json_bytes(store.metrics_document(ev, trained_small.timing_s, trained_small.config)))
    assert doc["counterfactual"]["values"]["final"]["ips"] == pytest.approx(total / len(test))
