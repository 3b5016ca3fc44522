"""Counterfactual (off-policy) estimates of each list's value from the logged propensities: IPS, SNIPS, DR.

Where it sits: evaluation, beside held-out NDCG and oracle NDCG. Held-out NDCG only credits
items the logging policy happened to show; these estimators re-weight the logged impressions by
how likely the logging policy was to show them, so a list is not rewarded for copying the logger.

Definitions (n = 1..N the held-out impressions with a logged propensity):

- **Reward** r_n: the impression's compound engagement score under the run's current label
  weights (``engagement_score``: click + w·dwell/… + … − hide, as the label computes it).
- **Logging propensity** p_n = π₀(a_n | user, visit, slots above): the logged probability that
  the logging policy put item a_n in the slot it was shown in.
- **Target policy** of a list L: the user reads L's top k top-down with NDCG's attention, i.e. it
  shows one item a with probability π(a | u) = d(rank_u(a)) / Σ_{r ≤ k_u} d(r), d(r) = 1/log₂(r + 1),
  and 0 for items outside the top k (k_u = the user's list length, at most k). The list is
  deterministic; the discount turns it into one action distribution per user.
- **Position**: not modelled. The reward was earned at the logged slot and counts as it is (no
  examination correction), and the per-slot propensity is treated as the probability of the
  action. Items the logger could not show (outside its pool) are never credited, so every
  estimate is biased low in the same way for every list; read them to *order* lists.
- **IPS** (Horvitz & Thompson 1952): V̂ = (1/N) Σ_n w_n·r_n with w_n = π(a_n | u_n) / p_n.
- **SNIPS** (Swaminathan & Joachims 2015, NeurIPS): V̂ = Σ_n w_n·r_n / Σ_n w_n (NaN when no weight).
- **DR** (Dudík, Langford & Li 2011, ICML): V̂ = (1/N) Σ_n [Σ_a π(a | u_n)·r̂(u_n, a) + w_n·(r_n − r̂(u_n, a_n))].
  Reward model r̂(u, a) = r̂(a): the item's mean training reward shrunk toward the global training
  mean with ``PRIOR_IMPRESSIONS`` pseudo-impressions, (Σ r_a + m·r̄) / (n_a + m); the same for
  every user (a deliberately simple, documented model).

Data without a ``propensity`` column (uploads, the notebook's CSVs, MIND) gets ``available: False``
and the reason, never NaN estimates.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.stats import kendalltau

from ranking.data import schema as S
from ranking.prep.lists import PAD, RankedLists
from ranking.prep.split import ITEM_POS, USER_POS, Prepared

ESTIMATORS = ("ips", "snips", "dr")
TITLES = {"ips": "IPS", "snips": "SNIPS", "dr": "Doubly robust"}
PRIOR_IMPRESSIONS = 5.0  # pseudo-impressions at the global mean in the item-mean reward model
REWARD_MODEL = (f"item mean of the training rewards, shrunk toward the global mean with "
                f"{PRIOR_IMPRESSIONS:g} pseudo-impressions (the same for every user)")


def target_probabilities(items: np.ndarray, k: int) -> np.ndarray:
    """π(a | u) of each list slot (n_users, k): DCG discount of the rank over the sum of the user's discounts."""
    head = np.asarray(items)[:, :k]
    d = np.where(head != PAD, 1.0 / np.log2(np.arange(2, head.shape[1] + 2)), 0.0)
    total = d.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, d / total, 0.0)


def reward_model(prep: Prepared) -> np.ndarray:
    """r̂(a) per item: shrunk item-mean of training rewards (see the module docstring)."""
    train = prep.train
    items, r = train[ITEM_POS].to_numpy(np.int64), train[S.SCORE].to_numpy(np.float64)
    glob = float(r.mean()) if len(r) else 0.0
    total = np.bincount(items, weights=r, minlength=prep.n_items)
    count = np.bincount(items, minlength=prep.n_items)
    return (total + PRIOR_IMPRESSIONS * glob) / (count + PRIOR_IMPRESSIONS)


def logged(prep: Prepared) -> tuple[dict[str, np.ndarray] | None, str]:
    """Held-out impressions usable for off-policy estimates (user, item, propensity, reward), or the reason none are."""
    test = prep.test
    if S.PROPENSITY not in test.columns:
        return None, ("the data has no logged propensities (no `propensity` column), so the logging policy's "
                      "choices cannot be re-weighted; generated worlds log them")
    p = test[S.PROPENSITY].to_numpy(np.float64)
    ok = np.isfinite(p) & (p > 0) & (p <= 1)
    if not ok.any():
        return None, "no held-out impression has a logged propensity in (0, 1]"
    return {"user": test[USER_POS].to_numpy(np.int64)[ok], "item": test[ITEM_POS].to_numpy(np.int64)[ok],
            "propensity": p[ok], "reward": test[S.SCORE].to_numpy(np.float64)[ok]}, ""


def estimate(log: Mapping[str, np.ndarray], items: np.ndarray, k: int, r_hat: np.ndarray,
             n_items: int) -> dict[str, float]:
    """IPS, SNIPS and DR values of one list (rows = user positions), effective sample size and matches."""
    probs = target_probabilities(items, k)
    head = np.asarray(items)[:, :k]
    rows = np.broadcast_to(np.arange(head.shape[0], dtype=np.int64)[:, None], head.shape)
    valid = head != PAD
    keys = (rows * n_items + head)[valid]
    order = np.argsort(keys)
    keys, slot_p = keys[order], probs[valid][order]
    want = log["user"] * n_items + log["item"]
    if len(keys):
        pos = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
        pi = np.where(keys[pos] == want, slot_p[pos], 0.0)
    else:
        pi = np.zeros(len(want))
    w = pi / log["propensity"]
    r, n = log["reward"], len(want)
    dm_user = (probs * np.where(valid, r_hat[np.maximum(head, 0)], 0.0)).sum(axis=1)
    dr = (dm_user[log["user"]] + w * (r - r_hat[log["item"]])).sum() / n
    sw = w.sum()
    return {"ips": float((w * r).sum() / n), "snips": float((w * r).sum() / sw) if sw > 0 else float("nan"),
            "dr": float(dr), "n_impressions": n, "n_matched": int((w > 0).sum()),
            "effective_sample_size": float(sw**2 / (w**2).sum()) if sw > 0 else 0.0}


def order_agreement(values: Mapping[str, Mapping[str, float]], truth: Mapping[str, float],
                    keys: tuple[str, ...] = ESTIMATORS) -> dict[str, float]:
    """Kendall τ-b between each key's ordering of the lists (``values[list][key]``) and the truth's.

    NaN when fewer than two lists have both values, or when either side ties every list.
    """
    names = [n for n in truth if np.isfinite(truth[n])]
    y = np.asarray([truth[n] for n in names], np.float64)
    out = {}
    for key in keys:
        x = np.asarray([values.get(n, {}).get(key, np.nan) for n in names], np.float64)
        ok = np.isfinite(x)
        out[key] = float(kendalltau(x[ok], y[ok]).statistic) if ok.sum() >= 2 else float("nan")
    return out


def counterfactual(prep: Prepared, lists: Mapping[str, RankedLists], k: int,
                   truth: Mapping[str, float] | None = None, heldout: Mapping[str, float] | None = None,
                   stages: tuple[str, ...] | None = None) -> dict:
    """Off-policy estimates of every list (JSON-able): availability, reason, values and order agreement.

    ``truth``: list name → the truth's value (oracle NDCG@k) of the lists whose order the
    estimators should reproduce. ``agreement`` holds each estimator's Kendall τ against it over the
    ``stages`` (default: every list with a truth) and ``agreement_all`` over every list with a truth
    (baselines included); ``heldout`` (list name → held-out NDCG@k) adds held-out NDCG's τ under the
    key ``"heldout_ndcg"``.
    """
    log, reason = logged(prep)
    doc = {"available": log is not None, "reason": reason, "k": k, "reward": "engagement_score",
           "reward_model": REWARD_MODEL, "values": {}, "agreement": {}, "agreement_all": {}}
    if log is None:
        return doc
    r_hat = reward_model(prep)
    doc["values"] = {name: estimate(log, lst.items, k, r_hat, prep.n_items) for name, lst in lists.items()}
    if truth:
        values = {n: {**v, "heldout_ndcg": (heldout or {}).get(n, np.nan)} for n, v in doc["values"].items()}
        keys = (*ESTIMATORS, "heldout_ndcg")
        on_stages = {n: v for n, v in truth.items() if stages is None or n in stages}
        doc["agreement"] = order_agreement(values, on_stages, keys)
        doc["agreement_all"] = order_agreement(values, truth, keys)
    return doc
