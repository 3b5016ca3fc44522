"""The notebook's way, kept only as the benchmark's reference: row loops and one prediction per row.

Where it sits: beside the pipeline, never inside it. ``benchmarks.bench`` times these functions
against the vectorised stages to show what the rewrite buys. Stage 1 is the notebook's topic
match — one DataFrame filter per (user, item) pair, a Python sort, the top K, no eligibility
filters. Stages 2 and 3 score one candidate at a time with the *same* fitted models as the
pipeline: XGBoost ``predict_proba`` on a one-row DataFrame, Keras ``model.predict`` on one row
(the notebook's ~40 ms call). Features come from the library for one pair at a time, so the
scores equal the batched ones and the comparison measures the loop, not a different model.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ranking.config import PostConfig
from ranking.data import schema as S
from ranking.prep.lists import PAD, RankedLists
from ranking.prep.split import Prepared
from ranking.stages import value as V
from ranking.stages.neural import DWELL_SCALE
from ranking.stages.postprocess import postprocess


def topic_score(user_row: pd.Series, content_row: pd.Series, affinity: dict[str, str]) -> float:
    """The notebook's ``naive_topic_score``: the user's stated affinity for the item's topic, 0 if none."""
    column = affinity.get(str(content_row[S.TOPIC]))
    if column is None:
        return 0.0
    value = float(user_row[column])
    return 0.0 if np.isnan(value) else value  # the library treats a blank affinity as 0 too


def topic_candidates(users: pd.DataFrame, content: pd.DataFrame, affinity: dict[str, str], k: int,
                     user_ids: Iterable | None = None) -> dict:
    """user_id → top-k content ids by topic score (ties in content order), one filter per pair."""
    ids = users[S.USER_ID].unique() if user_ids is None else user_ids
    content_ids = content[S.CONTENT_ID].unique()
    out = {}
    for uid in ids:
        user_row = users[users[S.USER_ID] == uid].iloc[0]
        scores = []
        for cid in content_ids:
            c_row = content[content[S.CONTENT_ID] == cid].iloc[0]
            scores.append((cid, topic_score(user_row, c_row, affinity)))
        scores.sort(key=lambda x: x[1], reverse=True)  # stable: equal scores keep content order
        out[uid] = [cid for cid, _ in scores[:k]]
    return out


def _rows(prep: Prepared, user_pos: int, item_pos: int) -> None:
    """The notebook's per-row lookups of the user and content rows (their cost is part of the loop)."""
    users, content = prep.dataset.users, prep.dataset.content
    uid, cid = users[S.USER_ID].iloc[user_pos], content[S.CONTENT_ID].iloc[item_pos]
    users[users[S.USER_ID] == uid].iloc[0]
    content[content[S.CONTENT_ID] == cid].iloc[0]


def stage2_scores(prep: Prepared, ranker, user_pos: int, items: Iterable[int]) -> np.ndarray:
    """Stage-2 score of each candidate item position, one feature row and one predict call at a time
    (a signals model: one predict per signal model per row, then the weighted sum)."""
    ranking = ranker.config.objective.startswith("rank:")
    out = []
    for i in items:
        _rows(prep, user_pos, int(i))
        x = ranker.pair_features(prep, [user_pos], [int(i)])
        if getattr(ranker, "signals_mode", False):
            boosters = ranker.signal_model_
            start = ranker._serving_margin(prep, np.array([user_pos]), np.array([int(i)]))  # the GLM's (or None)
            xv = boosters._view(x)
            sig = np.array([[max(float(m.predict(xv, base_margin=None if start is None else start[:, j])[0]), 0.0)
                             for j, m in enumerate(boosters.models_)]], np.float32)
            out.append(V.value(prep, sig, np.array([int(i)]))[0])
            continue
        row = pd.DataFrame(x, columns=ranker.feature_names_)
        p = ranker.model_.predict(row)[0] if ranking else ranker.model_.predict_proba(row)[0, 1]
        out.append(np.float32(p))
    return np.asarray(out, np.float32)


def stage3_scores(prep: Prepared, ranker, reranker, user_pos: int, items: Iterable[int],
                  stage2: Iterable[float]) -> np.ndarray:
    """Stage-3 probability of each item, one Keras ``model.predict`` per row (the notebook's loop)."""
    out = []
    signals = getattr(reranker, "signals_", False)
    for i, s2 in zip(items, stage2, strict=True):
        _rows(prep, user_pos, int(i))
        x = ranker.pair_features(prep, [user_pos], [int(i)])
        if signals:  # the stage-2 input of a signals model is stage 2's five predictions
            s2_col = ranker.pair_outputs(prep, [user_pos], [int(i)]) if reranker.uses_stage2_ else None
        else:
            s2_col = np.array([[s2]], np.float32) if reranker.uses_stage2_ else None
        inputs = reranker._inputs(x, np.array([user_pos]), np.array([int(i)]), s2_col)
        p = reranker.model_.predict(inputs, verbose=0)
        if signals:
            sig = np.concatenate([np.asarray(p[name]).reshape(1, 1) for name in V.NAMES], axis=1)
            sig[:, 1] *= DWELL_SCALE
            if getattr(reranker, "passthrough_", False):  # the guard passes stage 2's predictions through
                sig = np.asarray(s2_col, np.float32)
            out.append(V.value(prep, sig, np.array([int(i)]))[0])
        else:
            out.append(np.float32(p.ravel()[0]))
    return np.asarray(out, np.float32)


def _sorted(items: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = sorted(range(len(items)), key=lambda j: (-float(scores[j]), int(items[j])))
    return items[order], scores[order]


def rerank_user(prep: Prepared, ranker, reranker, user_pos: int, k: int, top_n: int,
                post: PostConfig) -> RankedLists:
    """One user's feed the notebook's way: topic loop → per-row GBDT → top N → per-row DNN → post-process."""
    users, content = prep.dataset.users, prep.dataset.content
    uid = users[S.USER_ID].iloc[user_pos]
    cids = topic_candidates(users, content, prep.dataset.affinity, k, [uid])[uid]
    items = pd.Index(content[S.CONTENT_ID].to_numpy()).get_indexer(cids).astype(np.int32)
    items, s2 = _sorted(items, stage2_scores(prep, ranker, user_pos, items))
    items, s2 = items[:top_n], s2[:top_n]
    items, s3 = _sorted(items, stage3_scores(prep, ranker, reranker, user_pos, items, s2))
    width = max(top_n, len(items))
    padded = np.full((1, width), PAD, np.int32)
    scores = np.full((1, width), np.nan, np.float32)
    padded[0, :len(items)], scores[0, :len(items)] = items, s3
    return postprocess(prep, RankedLists(padded, scores), post).lists
