"""Counterfactual (off-policy) estimates of each list's value from the logged propensities, with intervals.

Where it sits: evaluation, beside held-out NDCG and oracle NDCG. Held-out NDCG only credits
items the logging policy happened to show; these estimators re-weight the logged impressions by
how likely the logging policy was to show them, so a list is not rewarded for copying the logger.

**Estimand.** The value of list L for user u is what a user reading it top-down would bring:
V_u(L) = Σ_{r ≤ k_u} d(r)·v(u, L_r), with d(r) = 1/log₂(r + 1) the chance slot r is examined (the
generated world's examination model, and NDCG's discount) and v(u, a) the expected compound
engagement score of an *examined* impression of a. A list's value is the mean of V_u over the
held-out impressions' users (each user as often as it has held-out impressions with a propensity).

Definitions (n = 1..N the held-out impressions with a logged propensity, user u_n, item a_n, slot q_n):

- **Reward** r̃_n = r_n / d(q_n): the impression's compound score under the run's current label weights,
  divided by the examination probability of the slot it was shown in (the position-based model, Joachims
  et al. 2017, WSDM), so it estimates v(u_n, a_n) whatever the slot; without a logged slot, r̃_n = r_n.
- **Logging propensity** p_n: the logged probability that the logging policy put a_n in its slot given the
  slots above (each logged row is one draw of the policy).
- **Weights** w_n = d(rank_L(a_n)) / p_n (0 when a_n is not in L's top k); normalised ω_n = w_n / D_u with
  D_u = Σ_{r ≤ k_u} d(r), which has expectation 1 when the logger could show every listed item.
- **IPS** (Horvitz & Thompson 1952): V̂ = (1/N) Σ_n w_n·r̃_n.
- **Clipped IPS** (Ionides 2008; Bottou et al. 2013): ω_n capped at ``CLIP`` (w_n at CLIP·D_u): less variance,
  biased low where the cap bites.
- **SNIPS** (Swaminathan & Joachims 2015, NeurIPS): V̂ = Σ_n ω_n·D_u·r̃_n / Σ_n ω_n (NaN when no weight).
- **DR** (Dudík, Langford & Li 2011, ICML): V̂ = (1/N) Σ_n [Σ_r d(r)·r̂(u_n, L_r) + w_n·(r̃_n − r̂(u_n, a_n))].
  Reward model r̂ (``reward_pairs``): stage 2's value predictions (Σ wᵢ·signalᵢ under the current weights, each
  pair scored as if shown in slot 1 at serving time) when stage 2 predicts signals, else the per-signal GLM
  (``ranking.stages.glm``) the same way, at the impression's time for the logged item. On three generated
  worlds × two training seeds (``python -m benchmarks --coverage``) stage 2's predictions made DR's paired
  intervals cover the true difference more often than the GLM did (7 vs 4 of 12); with the world's truth as r̂
  they covered 11 of 12, so the misses are the reward model's bias on items the logger never showed.
- **Intervals**: 95 % user bootstrap (``ranking.evaluation.bootstrap``); differences between two lists are
  paired (the same resampled users for both). **Effective sample size** (Kong 1992): (Σ ω)² / Σ ω².

Items the logger could not show (outside its pool) get no weight: IPS, clipped IPS and SNIPS are biased
low for lists of such items (fresh ones, mostly); DR's model term covers them. On a generated world each
list's **true value** (the estimand from the world's truth) is reported beside the estimates, and every
paired interval says whether it covers the true difference.

Data without a ``propensity`` column (uploads, the notebook's CSVs, MIND) gets ``available: False``
and the reason, never NaN estimates.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping

import numpy as np
from scipy.stats import kendalltau

from ranking.data import schema as S
from ranking.evaluation import bootstrap as BS
from ranking.prep.lists import PAD, RankedLists
from ranking.prep.split import ITEM_POS, USER_POS, Prepared, seconds

ESTIMATORS = ("ips", "clipped_ips", "snips", "dr")
TITLES = {"ips": "IPS", "clipped_ips": "Clipped IPS", "snips": "SNIPS", "dr": "Doubly robust"}
CLIP = 10.0  # cap on the normalised weight π(a|u)/p
REWARD_MODELS = {"stage2": "stage 2's predicted value of each pair (Σ weight × predicted signal, slot 1, "
                           "serving time)",
                 "glm": "the per-signal GLM's expected compound score of an examined impression (logistic and "
                        "Poisson regressions on transparent features, combined with the current weights)"}
CHUNK_CELLS = 8_000_000  # users × items per block of model and truth rows


def discounts(items: np.ndarray, k: int) -> np.ndarray:
    """d(rank) of each list slot (n_users, k): 1/log₂(rank + 1), 0 at padding."""
    head = np.asarray(items)[:, :k]
    return np.where(head != PAD, 1.0 / np.log2(np.arange(2, head.shape[1] + 2)), 0.0)


def target_probabilities(items: np.ndarray, k: int) -> np.ndarray:
    """π(a | u) of each list slot (n_users, k): the slot's discount over the sum of the user's discounts."""
    d = discounts(items, k)
    total = d.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, d / total, 0.0)


def logged(prep: Prepared) -> tuple[dict[str, np.ndarray] | None, str]:
    """Held-out impressions usable for off-policy estimates (user, item, propensity, examination-corrected reward,
    event time), or the reason none are."""
    test = prep.test
    if S.PROPENSITY not in test.columns:
        return None, ("the data has no logged propensities (no `propensity` column), so the logging policy's "
                      "choices cannot be re-weighted; generated worlds log them")
    p = test[S.PROPENSITY].to_numpy(np.float64)
    ok = np.isfinite(p) & (p > 0) & (p <= 1)
    if not ok.any():
        return None, "no held-out impression has a logged propensity in (0, 1]"
    exam = np.ones(len(test))
    if S.POSITION in test.columns:
        pos = test[S.POSITION].to_numpy(np.float64, na_value=np.nan)
        exam = np.where(np.isfinite(pos) & (pos >= 1), 1.0 / np.log2(np.where(pos >= 1, pos, 1.0) + 1.0), 1.0)
    return {"user": test[USER_POS].to_numpy(np.int64)[ok], "item": test[ITEM_POS].to_numpy(np.int64)[ok],
            "propensity": p[ok], "reward": (test[S.SCORE].to_numpy(np.float64) / exam)[ok],
            "event_s": seconds(test[S.EVENT_TS])[ok]}, ""


def row_terms(log: Mapping[str, np.ndarray], items: np.ndarray, k: int, n_items: int, r_hat_logged: np.ndarray,
              r_hat_slots: np.ndarray) -> dict[str, np.ndarray]:
    """Per logged row, the summands of every estimator for one list (rows = user positions):
    ``ips``, ``clipped_ips``, ``dr`` (means over rows), ``snips_num``/``omega`` (a ratio) and ``omega``.

    ``r_hat_logged``: r̂ of each logged (user, item); ``r_hat_slots``: r̂ of each list slot (n_users, ≥ k).
    """
    d = discounts(items, k)
    head = np.asarray(items)[:, :k]
    total = d.sum(axis=1)
    rows = np.broadcast_to(np.arange(head.shape[0], dtype=np.int64)[:, None], head.shape)
    valid = head != PAD
    keys = (rows * n_items + head)[valid]
    order = np.argsort(keys)
    keys, slot_d = keys[order], d[valid][order]
    want = log["user"] * n_items + log["item"]
    if len(keys):
        pos = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
        disc = np.where(keys[pos] == want, slot_d[pos], 0.0)
    else:
        disc = np.zeros(len(want))
    big_d = total[log["user"]]
    w = disc / log["propensity"]
    with np.errstate(invalid="ignore", divide="ignore"):
        omega = np.where(big_d > 0, w / np.where(big_d > 0, big_d, 1.0), 0.0)
    r = log["reward"]
    dm = (d * np.nan_to_num(np.asarray(r_hat_slots, np.float64)[:, :k])).sum(axis=1)
    return {"ips": w * r, "clipped_ips": np.minimum(omega, CLIP) * big_d * r, "snips_num": omega * big_d * r,
            "omega": omega, "dr": dm[log["user"]] + w * (r - r_hat_logged)}


def estimate(log: Mapping[str, np.ndarray], items: np.ndarray, k: int, n_items: int, r_hat_logged: np.ndarray,
             r_hat_slots: np.ndarray) -> dict[str, float]:
    """IPS, clipped IPS, SNIPS and DR values of one list (rows = user positions), effective sample size and
    matches (point estimates; :func:`counterfactual` adds intervals)."""
    t = row_terms(log, items, k, n_items, r_hat_logged, r_hat_slots)
    n, so = len(log["user"]), t["omega"].sum()
    return {"ips": float(t["ips"].mean()), "clipped_ips": float(t["clipped_ips"].mean()),
            "snips": float(t["snips_num"].sum() / so) if so > 0 else float("nan"), "dr": float(t["dr"].mean()),
            "n_impressions": n, "n_matched": int((t["omega"] > 0).sum()),
            "effective_sample_size": float(so**2 / (t["omega"] ** 2).sum()) if so > 0 else 0.0}


def _per_user(log: Mapping[str, np.ndarray], terms: dict[str, np.ndarray], users: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Per-user numerators and denominators (n_users, 4) of IPS, clipped IPS, SNIPS and DR for one list."""
    inverse = np.searchsorted(users, log["user"])
    sums = {name: np.bincount(inverse, weights=v, minlength=len(users)) for name, v in terms.items()}
    rows = np.bincount(inverse, minlength=len(users)).astype(np.float64)
    num = np.column_stack([sums["ips"], sums["clipped_ips"], sums["snips_num"], sums["dr"]])
    return num, np.column_stack([rows, rows, sums["omega"], rows])


def slot_values(users: np.ndarray, lists: Mapping[str, RankedLists], k: int,
                score: Callable[[np.ndarray, np.ndarray], np.ndarray], n_users: int, n_items: int
                ) -> dict[str, np.ndarray]:
    """Per list, ``score(user_pos, item_pos)`` of each top-k slot of ``users`` (n_users, k; 0 elsewhere): every
    distinct (user, item) pair over all lists is scored once."""
    parts = []
    for lst in lists.values():
        head = lst.items[users, :k]
        rows, cols = np.nonzero(head != PAD)
        parts.append(users[rows].astype(np.int64) * n_items + head[rows, cols])
    keys = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
    scored = np.asarray(score(keys // n_items, keys % n_items), np.float64) if len(keys) else np.zeros(0)
    out = {}
    for name, lst in lists.items():
        head = lst.items[users, :k]
        rows, cols = np.nonzero(head != PAD)
        v = np.zeros((n_users, head.shape[1]))
        v[users[rows], cols] = scored[np.searchsorted(keys, users[rows].astype(np.int64) * n_items + head[rows, cols])]
        out[name] = v
    return out


def true_values(users: np.ndarray, lists: Mapping[str, RankedLists], k: int,
                truth_rows: Callable[[np.ndarray], np.ndarray], n_users: int, n_items: int) -> dict[str, np.ndarray]:
    """Per list, V_u = Σ_r d(r)·v(u, L_r) of ``users`` (0 elsewhere), from n_items-wide truth rows in user chunks."""
    true = {name: np.zeros(n_users) for name in lists}
    step = max(1, CHUNK_CELLS // max(n_items, 1))
    for lo in range(0, len(users), step):
        part = users[lo:lo + step]
        gain = np.asarray(truth_rows(part), np.float64)
        for name, lst in lists.items():
            head = lst.items[part, :k]
            true[name][part] = (discounts(head, k) * np.take_along_axis(gain, np.maximum(head, 0), axis=1)).sum(axis=1)
    return true


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


def _pairs(stages: tuple[str, ...]) -> list[tuple[str, str]]:
    """Consecutive stage lists, plus stage 2 → final when both exist (the learned ranker vs what is served)."""
    pairs = list(itertools.pairwise(stages))
    if "stage2" in stages and "final" in stages and ("stage2", "final") not in pairs:
        pairs.append(("stage2", "final"))
    return pairs


def counterfactual(prep: Prepared, lists: Mapping[str, RankedLists], k: int,
                   truth: Mapping[str, float] | None = None, heldout: Mapping[str, float] | None = None,
                   stages: tuple[str, ...] | None = None, reward_model=None,
                   reward_pairs: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None, seed: int = 0) -> dict:
    """Off-policy estimates of every list (JSON-able): availability, reason, values with 95 % intervals, paired
    differences between stage lists, and order agreement.

    ``reward_pairs``: r̂(user_pos, item_pos) (stage 2's value predictions); without it, ``reward_model`` (a fitted
    ``SignalGLM``; default: one fitted here). ``truth``: list name → the truth's value (oracle NDCG@k) of the lists
    whose order the estimators should reproduce; ``agreement`` holds each estimator's Kendall τ against it over
    the ``stages`` (default: every list with a truth) and ``agreement_all`` over every list with a truth
    (baselines included); ``heldout`` (list name → held-out NDCG@k) adds held-out NDCG's τ under the key
    ``"heldout_ndcg"``.
    """
    log, reason = logged(prep)
    doc = {"available": log is not None, "reason": reason, "k": k, "reward": "engagement_score / examination",
           "reward_model": REWARD_MODELS["stage2" if reward_pairs is not None else "glm"], "clip": CLIP,
           "n_boot": BS.N_BOOT, "level": BS.LEVEL, "values": {}, "differences": {}, "agreement": {},
           "agreement_all": {}}
    if log is None:
        return doc
    if reward_pairs is not None:
        r_hat_logged = np.asarray(reward_pairs(log["user"], log["item"]), np.float64)
        score = reward_pairs
    else:
        from ranking.stages.glm import SignalGLM
        from ranking.stages.value import value

        glm = reward_model if reward_model is not None else SignalGLM(seed=seed).fit(prep)
        r_hat_logged = np.asarray(value(prep, glm.pair_signals(prep, log["user"], log["item"], log["event_s"]),
                                        log["item"]), np.float64)

        def score(u: np.ndarray, i: np.ndarray) -> np.ndarray:
            return value(prep, glm.serving_signals(prep, u, i), i)
    users = np.unique(log["user"])
    source = prep.dataset.truth
    truth_rows = None
    if source is not None and hasattr(source, "gain") and prep.labels is not None:
        from ranking.prep import labels as L

        norm = L.expected_dwell_per_item(prep.interactions, prep.dataset.content, prep.labels)
        truth_rows = lambda part: source.gain(part, prep.labels, norm)  # noqa: E731
    slots = slot_values(users, lists, k, score, prep.n_users, prep.n_items)
    true_u = true_values(users, lists, k, truth_rows, prep.n_users, prep.n_items) if truth_rows else None
    nums, dens = [], []
    for name, lst in lists.items():
        terms = row_terms(log, lst.items, k, prep.n_items, r_hat_logged, slots[name])
        num, den = _per_user(log, terms, users)
        nums.append(num)
        dens.append(den)
        doc["values"][name] = estimate(log, lst.items, k, prep.n_items, r_hat_logged, slots[name])
        if true_u is not None:
            doc["values"][name]["true_value"] = float(true_u[name][log["user"]].mean())
    # one resampling for every list and estimator (columns in ESTIMATORS order): paired differences below
    every = BS.ratio_draws(np.concatenate(nums, axis=1), np.concatenate(dens, axis=1), seed)
    draws = {name: dict(zip(ESTIMATORS, every[:, 4 * j:4 * j + 4].T, strict=True)) for j, name in enumerate(lists)}
    for name in lists:
        for est, d in draws[name].items():
            lo, hi = BS.interval(d)
            doc["values"][name][f"{est}_low"], doc["values"][name][f"{est}_high"] = float(lo), float(hi)
    for a, b in _pairs(tuple(n for n in (stages or tuple(lists)) if n in lists)):
        diff: dict[str, float | bool] = {}
        for est in ESTIMATORS:
            lo, hi = BS.interval(draws[b][est] - draws[a][est])
            diff[est] = doc["values"][b][est] - doc["values"][a][est]
            diff[f"{est}_low"], diff[f"{est}_high"] = float(lo), float(hi)
        if true_u is not None:
            diff["true"] = doc["values"][b]["true_value"] - doc["values"][a]["true_value"]
            for est in ESTIMATORS:
                diff[f"{est}_covers"] = bool(diff[f"{est}_low"] <= diff["true"] <= diff[f"{est}_high"])
        doc["differences"][f"{a}→{b}"] = diff
    if truth:
        values = {n: {**v, "heldout_ndcg": (heldout or {}).get(n, np.nan)} for n, v in doc["values"].items()}
        keys = (*ESTIMATORS, "heldout_ndcg")
        on_stages = {n: v for n, v in truth.items() if stages is None or n in stages}
        doc["agreement"] = order_agreement(values, on_stages, keys)
        doc["agreement_all"] = order_agreement(values, truth, keys)
    return doc


def separable(doc: Mapping, estimator: str) -> dict[str, bool]:
    """Per paired difference (``"a→b"``), whether the estimator's 95 % interval excludes 0 (it tells the lists
    apart)."""
    out = {}
    for pair, d in doc.get("differences", {}).items():
        lo, hi = d.get(f"{estimator}_low", np.nan), d.get(f"{estimator}_high", np.nan)
        if np.isfinite(lo) and np.isfinite(hi):
            out[pair] = bool(lo > 0 or hi < 0)
    return out
