"""Reference rankers every run is measured against: popularity, a stated-interest heuristic, logistic regression.

Where it sits: beside the funnel, inside evaluation. A learned stage earns its place only when it
beats these simple lists on the same metrics, so each one is evaluated exactly like a stage list.

- ``popularity``: every eligible item (stage 1's eligibility: region, blocklist, already seen, age
  limit) ordered by training popularity (:func:`item_popularity`), the same list for everyone.
- ``heuristic``: eligible items ordered by the user's stated affinity for the item's topic plus
  the item's ``quality_score`` (a plain sum, nothing fitted; a topic the user states nothing
  about counts 0).
- ``logreg``: scikit-learn logistic regression (standardised features, missing values imputed
  with the column mean, fixed ``random_state``) fitted on stage 2's training table (features and
  binary label), scoring stage 1's candidates with stage 2's features; it keeps stage 2's top N.

Ties break by item position through ``ranking.prep.lists`` (the one tie rule).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Mapping

import numpy as np

from ranking.config import CandidateConfig
from ranking.data import schema as S
from ranking.prep.lists import PAD, RankedLists, order_rows, top_k
from ranking.prep.split import ITEM_POS, USER_POS, Prepared

BASELINES = ("popularity", "heuristic", "logreg")
TITLES = {"popularity": "Popularity", "heuristic": "Affinity + quality heuristic",
          "logreg": "Logistic regression"}
CHUNK = 2048  # users per chunk of n_items-wide score rows
LOGREG_C = 1.0  # sklearn's default inverse regularisation, stated so the docs can name it
LOGREG_MAX_ITER = 500
# stage-2 output → (prepared data, stage-1 lists, seed, lists): a re-evaluation after a post-processing or
# cut-off change reuses the fitted baseline instead of refitting it; entries go when the stage output does
_LOGREG_MEMO: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_FEATURES_MEMO: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
FEATURES_MEMO_BYTES = 64 * 2**20  # serving features kept per stage-2 model up to this size (else recomputed)


def item_popularity(prep: Prepared) -> np.ndarray:
    """Share of users with a label-positive training interaction on each item (float64, n_items).

    One definition for the popularity baseline, novelty and popularity bias; held-out rows never count.
    """
    train = prep.train
    pos = train[train[S.LABEL].to_numpy() > 0]
    keys = np.unique(pos[USER_POS].to_numpy(np.int64) * prep.n_items + pos[ITEM_POS].to_numpy(np.int64))
    counts = np.bincount(keys % prep.n_items, minlength=prep.n_items) if prep.n_items else np.zeros(0)
    return counts / max(prep.n_users, 1)


def heuristic_scores(prep: Prepared, users: np.ndarray) -> np.ndarray:
    """Stated affinity for the item's topic (NaN → 0) + quality score: float32 (len(users), n_items)."""
    affinity = np.nan_to_num(prep.user_affinity[np.asarray(users)], nan=0.0)
    return (affinity[:, prep.item_topic] + prep.item_quality[None, :]).astype(np.float32)


def eligible_tops(prep: Prepared, cand_config: CandidateConfig, width: int,
                  scorers: Mapping[str, Callable[[np.ndarray], np.ndarray]]) -> dict[str, RankedLists]:
    """Per scorer, each user's ``width`` best eligible items by ``scorer(users)`` (dense rows).

    Chunked by user; eligibility (the costly n_items-wide mask) is computed once per chunk for all scorers.
    """
    n, w = prep.n_users, min(width, prep.n_items)
    out = {name: RankedLists(np.full((n, w), PAD, np.int32), np.full((n, w), np.nan, np.float32))
           for name in scorers}
    for lo in range(0, n, CHUNK):
        users = np.arange(lo, min(lo + CHUNK, n))
        mask, _ = prep.eligible(users, cand_config)
        for name, score_rows in scorers.items():
            part = top_k(score_rows(users), w, mask)
            out[name].items[users], out[name].scores[users] = part.items, part.scores
    return out


def _popularity_rows(prep: Prepared) -> Callable[[np.ndarray], np.ndarray]:
    pop = item_popularity(prep).astype(np.float32)
    return lambda users: np.broadcast_to(pop, (len(users), len(pop)))


def popularity_lists(prep: Prepared, cand_config: CandidateConfig, width: int) -> RankedLists:
    """Eligible items by training popularity, ties by item position."""
    return eligible_tops(prep, cand_config, width, {"popularity": _popularity_rows(prep)})["popularity"]


def heuristic_lists(prep: Prepared, cand_config: CandidateConfig, width: int) -> RankedLists:
    """Eligible items by stated topic affinity + quality score, ties by item position."""
    return eligible_tops(prep, cand_config, width,
                         {"heuristic": lambda users: heuristic_scores(prep, users)})["heuristic"]


def fit_logreg(X: np.ndarray, y: np.ndarray, seed: int):
    """Standardised, mean-imputed, L2 logistic regression (C = 1) fitted on (X, binary y)."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(SimpleImputer(strategy="mean", keep_empty_features=True), StandardScaler(),
                          LogisticRegression(C=LOGREG_C, max_iter=LOGREG_MAX_ITER, random_state=seed))
    return model.fit(np.asarray(X, np.float64), (np.asarray(y) > 0).astype(np.int64))


def logreg_lists(prep: Prepared, stage1: RankedLists, stage2_model, top_n: int, seed: int) -> RankedLists:
    """Stage 1's candidates re-ranked by logistic regression on stage 2's features, top ``top_n`` kept."""
    table = stage2_model.table_
    model = fit_logreg(table.X, run_label(prep, table), seed)
    scores = np.full(stage1.items.shape, np.nan, np.float32)
    for users, X, mask in _serving_features(prep, stage1, stage2_model):
        if len(X):
            block = scores[users]
            block[mask] = model.predict_proba(X)[:, 1]
            scores[users] = block
    return order_rows(stage1.items, scores, keep=top_n)


def _serving_features(prep: Prepared, stage1: RankedLists, stage2_model) -> Iterator[tuple[np.ndarray, ...]]:
    """Stage 2's features of every stage-1 candidate, in user chunks: (users, X, mask). They do not depend on the
    label, so a weight or threshold move (``ranking.prep.split.relabel`` keeps the split's arrays) reuses them and
    only refits the regression. Kept per stage-2 model while the split and the stage-1 lists are the same ones,
    up to ``FEATURES_MEMO_BYTES``; beyond that, one chunk at a time is held, as without the memo."""
    try:
        hit = _FEATURES_MEMO.get(stage2_model)
    except TypeError:  # not weak-referenceable
        hit = None
    if hit is not None and hit[0]() is prep.seen and hit[1]() is stage1:
        yield from hit[2]
        return
    kept: list[tuple[np.ndarray, ...]] | None = []
    size = 0
    for lo in range(0, prep.n_users, CHUNK):
        users = np.arange(lo, min(lo + CHUNK, prep.n_users))
        part = RankedLists(stage1.items[users], stage1.scores[users])
        X, _, _, mask = stage2_model.features_for(prep, part, users=users)
        chunk = (users, np.asarray(X, np.float64), mask)
        size += chunk[1].nbytes
        if size > FEATURES_MEMO_BYTES:  # too big to keep: drop what was kept, hold one chunk at a time
            kept = None
        elif kept is not None:
            kept.append(chunk)
        yield chunk
    if kept is not None:
        try:
            _FEATURES_MEMO[stage2_model] = (weakref.ref(prep.seen), weakref.ref(stage1), kept)
        except TypeError:
            pass


def baseline_lists(prep: Prepared, outs: Mapping[str, object], cand_config: CandidateConfig, width: int,
                   seed: int) -> tuple[dict[str, RankedLists], tuple[str, ...]]:
    """Every baseline that the trained stages allow, and notes on those left out.

    ``outs``: the pipeline's stage outputs (``StageOutput``); logistic regression needs stage 2.
    """
    lists = eligible_tops(prep, cand_config, width, {"popularity": _popularity_rows(prep),
                                                     "heuristic": lambda users: heuristic_scores(prep, users)})
    notes: list[str] = []
    stage2 = outs.get("stage2")
    if stage2 is not None and getattr(stage2.model, "table_", None) is not None:
        table = stage2.model.table_
        if len(np.unique(run_label(prep, table))) == 2:
            lists["logreg"] = _logreg_once(prep, outs["stage1"].lists, stage2, seed)
        else:
            notes.append("Logistic regression baseline left out: stage 2's training table holds one class.")
    return lists, tuple(notes)


def run_label(prep: Prepared, table) -> np.ndarray:
    """The run's 0/1 label of stage 2's training rows. A value model's table holds clicks in ``y`` (it never
    learns the label), so the label comes from the rows' logged signals under the run's weights and threshold:
    the baseline is always the notebook's path (label, then a linear classifier)."""
    if getattr(table, "oof_signals", None) is None or prep.labels is None:
        return np.asarray(table.y) > 0
    from ranking.stages.value import value

    return value(prep, table.signals, table.item_pos) > prep.labels.threshold


def _logreg_once(prep: Prepared, stage1: RankedLists, stage2, seed: int) -> RankedLists:
    """``logreg_lists`` for this stage-2 model, computed once per (prepared data, stage-1 lists, seed); keyed by
    the model, which a re-weighted stage 2 shares with the trained one."""
    try:
        hit = _LOGREG_MEMO.get(stage2.model)
    except TypeError:  # not weak-referenceable: compute every time
        return logreg_lists(prep, stage1, stage2.model, stage2.lists.width, seed)
    if hit is not None and hit[0]() is prep and hit[1]() is stage1 and hit[2] == seed:
        return hit[3]
    lists = logreg_lists(prep, stage1, stage2.model, stage2.lists.width, seed)
    try:
        _LOGREG_MEMO[stage2.model] = (weakref.ref(prep), weakref.ref(stage1), seed, lists)
    except TypeError:
        pass
    return lists
