"""Per-impression metrics the way MIND's official evaluation computes them: AUC, MRR, nDCG@5, nDCG@10.

Where it sits: evaluation, beside the per-user list metrics. A list metric asks "did the feed put
the items this user engaged with near the top?"; these ask the question MIND's leaderboard asks:
*within one logged impression, did the scorer order the shown candidates so the clicked ones come
first?* Each scorer (random order, the baselines, each stage that can score a pair) scores the
shown candidates of every held-out impression; per impression, with y = clicked (1/0):

- the candidates are ranked by score, highest first, **ties by item position** (the lab's one tie
  rule), which turns every scorer into the strict ranking an official submission is;
- **AUC** = P(a clicked candidate is ranked above a non-clicked one) (Hanley & McNeil 1982), what
  ``sklearn.metrics.roc_auc_score`` gives on 1/rank, as the official script calls it;
- **MRR** = Σ_r y_r / r ÷ Σ_r y_r over every click (the script's ``mrr_score``, not only the first);
- **nDCG@k** = DCG@k / ideal DCG@k with gains 2^y − 1 and discounts log₂(r + 1) (``ndcg_score``;
  Järvelin & Kekäläinen 2002), k = 5 and 10.

Each metric is the plain mean over impressions (msnews/MIND ``evaluate.py``). The official script
assumes every impression holds a click and a non-click (MIND's do; ``roc_auc_score`` fails
otherwise); here impressions without a click, or clicked throughout, are left out of all four and
counted. Intervals: 95 % user bootstrap (``ranking.evaluation.bootstrap``); differences against
smoothed-CTR popularity are paired (the same resampled users for both).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ranking.evaluation import bootstrap as BS

METRICS = ("auc", "mrr", "ndcg@5", "ndcg@10")
TITLES = {"auc": "AUC", "mrr": "MRR", "ndcg@5": "nDCG@5", "ndcg@10": "nDCG@10"}
NO_PAIR_SCORE = {"stage1": "stage 1 blends candidate sources; it has no score for an arbitrary pair",
                 "final": "the final list re-orders stage 3's list (diversity, quotas); it scores no pair: "
                          "use stage3"}
REFERENCE = "smoothed_ctr"  # the popularity every learned stage must beat per impression
# Published values on MIND-small's dev set (used as the test set), quoted for scale only: other data, other
# models. Reported in Wang et al. (2022), "Modeling Multi-interest News Sequence for News Recommendation",
# arXiv:2207.07331; NRMS is Wu et al. (2019), BiasMF a biased matrix factorisation. Other papers report NRMS on
# the same set between about 0.63 and 0.68 AUC, so read the band, not the third digit.
MIND_REFERENCES = {
    "NRMS (Wu et al. 2019), as reported by Wang et al. 2022": {"auc": 0.6391, "mrr": 0.3017, "ndcg@5": 0.3282,
                                                               "ndcg@10": 0.3937},
    "BiasMF, as reported by Wang et al. 2022": {"auc": 0.5108, "mrr": 0.2258, "ndcg@5": 0.2318, "ndcg@10": 0.2952},
}
MIND_SOURCE = ("Wang et al. (2022), Modeling Multi-interest News Sequence for News Recommendation, "
               "arXiv:2207.07331, MIND-small dev set; metric definitions: msnews.github.io (MIND's evaluate.py)")


def per_impression(group: np.ndarray, y: np.ndarray, score: np.ndarray, tie: np.ndarray
                   ) -> dict[str, np.ndarray]:
    """Per impression (sorted group ids): AUC, MRR, nDCG@5, nDCG@10, candidates ``n`` and clicks ``n_pos``.

    Rows are candidates; ``group`` the impression, ``y`` 0/1 clicks, ``score`` higher = first (NaN = last),
    ``tie`` the tie-break (lower first). Metrics are NaN where an impression has no click or only clicks.
    """
    group = np.asarray(group, np.int64)
    y = np.asarray(y, np.float64)
    s = np.nan_to_num(np.asarray(score, np.float64), nan=-np.inf)
    order = np.lexsort((np.asarray(tie), -s, group))
    g, yy = group[order], y[order]
    if not len(g):
        return {k: np.zeros(0) for k in (*METRICS, "group", "n", "n_pos")}
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    sizes = np.diff(np.r_[starts, len(g)])
    rank = np.arange(len(g)) - np.repeat(starts, sizes) + 1
    n_pos = np.add.reduceat((yy > 0).astype(np.float64), starts)
    clicks = np.add.reduceat(yy, starts)
    ok = (n_pos > 0) & (n_pos < sizes)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {"mrr": np.add.reduceat(yy / rank, starts) / clicks}
        # strict order: each click at rank r is above (n − r) candidates, (clicks below it) of them clicked
        above = np.add.reduceat(np.where(yy > 0, np.repeat(sizes, sizes) - rank, 0), starts)
        out["auc"] = (above - n_pos * (n_pos - 1) / 2) / (n_pos * (sizes - n_pos))
        by_y = np.lexsort((-y, group))
        y_ideal = y[by_y]
        gain, gain_ideal = 2.0 ** yy - 1, 2.0 ** y_ideal - 1
        disc = np.log2(rank + 1.0)
        for k in (5, 10):
            top = rank <= k
            dcg = np.add.reduceat(np.where(top, gain / disc, 0.0), starts)
            idcg = np.add.reduceat(np.where(top, gain_ideal / disc, 0.0), starts)
            out[f"ndcg@{k}"] = dcg / idcg
    out = {k: np.where(ok, v, np.nan) for k, v in out.items()}
    return {**out, "group": g[starts], "n": sizes.astype(np.int64), "n_pos": n_pos.astype(np.int64)}


def evaluate_impressions(group: np.ndarray, user: np.ndarray, y: np.ndarray, tie: np.ndarray,
                         scores: Mapping[str, np.ndarray], seed: int = 0,
                         not_scored: Mapping[str, str] | None = None) -> dict:
    """Every scorer's mean AUC, MRR, nDCG@5 and nDCG@10 over held-out impressions with their 95 % user-bootstrap
    intervals, paired differences against smoothed-CTR popularity, and the counts (JSON-able).

    Rows are the held-out candidates (``group`` ≥ 0); ``scores`` maps a list name to one score per row.
    """
    group, user = np.asarray(group, np.int64), np.asarray(user, np.int64)
    doc: dict = {"available": True, "reason": "", "label": "click", "n_boot": BS.N_BOOT, "level": BS.LEVEL,
                 "lists": {}, "vs_" + REFERENCE: {}, "not_scored": dict(not_scored or {})}
    first = next(iter(scores.values()), None)
    if first is None or not len(group):
        return {**doc, "available": False, "reason": "no held-out impression to score"}
    base = per_impression(group, y, first, tie)
    ok = np.isfinite(base["auc"])
    imp_user = np.zeros(int(group.max()) + 1, np.int64)
    imp_user[group] = user
    doc.update(n_impressions=len(base["n"]), n_scored=int(ok.sum()), n_no_click=int((base["n_pos"] == 0).sum()),
               n_all_click=int((base["n_pos"] == base["n"]).sum()),
               n_users=len(np.unique(imp_user[base["group"][ok]])),
               mean_candidates=float(base["n"][ok].mean()) if ok.any() else float("nan"))
    if not ok.any():
        return {**doc, "available": False,
                "reason": f"none of the {len(base['n']):,} held-out impressions holds both a click and a non-click"}
    users, _ = BS.per_user(imp_user[base["group"][ok]], np.ones(int(ok.sum())))
    inverse = np.searchsorted(users, imp_user[base["group"][ok]])
    den = np.bincount(inverse, minlength=len(users)).astype(np.float64)
    means, sums = {}, {}
    for name, score in scores.items():
        m = per_impression(group, y, score, tie)
        table = np.column_stack([m[k][ok] for k in METRICS])
        means[name] = table.mean(axis=0)
        sums[name] = np.column_stack([np.bincount(inverse, weights=table[:, j], minlength=len(users))
                                      for j in range(len(METRICS))])
    names = list(sums)
    # one resampling for every list: the same users in every draw, so differences of draws are paired
    draws = BS.ratio_draws(np.concatenate([sums[n] for n in names], axis=1), den, seed).reshape(
        BS.N_BOOT, len(names), len(METRICS))
    lo, hi = BS.interval(draws)
    for j, name in enumerate(names):
        doc["lists"][name] = {**{k: float(means[name][c]) for c, k in enumerate(METRICS)},
                              **{f"{k}_low": float(lo[j, c]) for c, k in enumerate(METRICS)},
                              **{f"{k}_high": float(hi[j, c]) for c, k in enumerate(METRICS)}}
    if REFERENCE in sums:
        ref = names.index(REFERENCE)
        for j, name in enumerate(names):
            if name == REFERENCE:
                continue
            dlo, dhi = BS.interval(draws[:, j] - draws[:, ref])
            doc["vs_" + REFERENCE][name] = {
                **{k: float(means[name][c] - means[REFERENCE][c]) for c, k in enumerate(METRICS)},
                **{f"{k}_low": float(dlo[c]) for c, k in enumerate(METRICS)},
                **{f"{k}_high": float(dhi[c]) for c, k in enumerate(METRICS)}}
    return doc


def verdict(doc: Mapping, name: str, metric: str = "auc") -> str:
    """'above', 'below' or 'tied' (the paired 95 % interval holds 0) against smoothed-CTR popularity; '' if unknown."""
    row = doc.get("vs_" + REFERENCE, {}).get(name)
    if not row or not np.isfinite(row.get(f"{metric}_low", np.nan)):
        return ""
    if row[f"{metric}_low"] > 0:
        return "above"
    return "below" if row[f"{metric}_high"] < 0 else "tied"


def impression_report(prep, scores: Mapping[str, np.ndarray], seed: int = 0, not_scored: tuple | list = ()) -> dict:
    """:func:`evaluate_impressions` over the held-out rows of ``prep`` (``scores``: one value per ``prep.test`` row,
    ``random`` added here), with the split used and, on MIND data, the published reference values; ``not_scored``:
    lists without a score per pair (said, with the reason)."""
    from ranking.data import schema as S
    from ranking.prep.impressions import IMPRESSION_KEY
    from ranking.prep.split import ITEM_POS, USER_POS
    from ranking.stages.glm import clicks

    test = prep.test
    split = {"split": prep.split_method, "split_note": prep.split_note}
    key = test[IMPRESSION_KEY].to_numpy(np.int64) if IMPRESSION_KEY in test.columns else np.full(len(test), -1)
    if not (key >= 0).any():
        why = prep.split_note if prep.split_method in ("time", "random") else "no held-out row belongs to an impression"
        return {"available": False, "reason": why, **split, "lists": {}}
    keep = key >= 0
    rng = np.random.default_rng(seed)
    every = {**{n: np.asarray(v, np.float64) for n, v in scores.items()}, "random": rng.random(len(test))}
    doc = evaluate_impressions(key[keep], test[USER_POS].to_numpy(np.int64)[keep], clicks(test)[keep],
                               test[ITEM_POS].to_numpy(np.int64)[keep], {n: v[keep] for n, v in every.items()},
                               seed=seed, not_scored={n: NO_PAIR_SCORE.get(n, "no pair score") for n in not_scored})
    doc.update(split)
    if prep.split_method in ("time", "random"):
        doc["split_note"] += ("; this row split cuts impressions, so each held-out impression is only the part of "
                              "its slate that was held out")
    if "mind_news_id" in prep.dataset.content.columns and S.CONTENT_ID in prep.dataset.content.columns:
        doc["references"], doc["references_source"] = MIND_REFERENCES, MIND_SOURCE
    return doc
