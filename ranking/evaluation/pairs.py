"""Score (user, item) *position* pairs with trained stage outputs and the baselines: the one pair-scoring path.

Where it sits: under ``ranking.pipeline`` (the evaluation scores held-out rows through it: AUC, calibration,
per-impression metrics and DR's reward model) and ``ranking.scoring`` (the public ``score_pairs`` by id).
A stage predicting signals gives its value Σ wᵢ·signalᵢ under ``prep.labels`` and its (n, 5) signals; a
label-trained stage its score; stage 1 and the final list have no pair score (``ValueError`` says why).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping

import numpy as np

from ranking.evaluation import baselines as B
from ranking.evaluation.impression import NO_PAIR_SCORE
from ranking.prep.lists import PAD
from ranking.prep.split import Prepared
from ranking.stages import value as V
from ranking.stages.contract import STAGE_CLASSES, UPSTREAM

PAIR_STAGES = ("stage2", "stage3")


def scorable(outs: Mapping[str, object]) -> tuple[str, ...]:
    """Names :func:`score_positions` can score for these stage outputs: trained stages 2–3, then the baselines."""
    stages = tuple(n for n in PAIR_STAGES if n in outs)
    logreg = ("logreg",) if "stage2" in outs else ()
    return (*stages, *(b for b in B.BASELINES if b != "logreg"), *logreg)


def score_positions(prep: Prepared, outs: Mapping[str, object], user_pos: np.ndarray, item_pos: np.ndarray,
                    names: Iterable[str], seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """name → (value or score (n,), signals (n, 5) or None) of (user, item) *position* pairs."""
    u, i = np.asarray(user_pos, np.int64), np.asarray(item_pos, np.int64)
    names = list(names)
    valid = scorable(outs)
    for name in names:
        if name in NO_PAIR_SCORE:
            raise ValueError(f"{name}: {NO_PAIR_SCORE[name]}")
        if name not in valid:
            raise ValueError(f"cannot score {name!r} with this run; valid: {', '.join(valid)}")
    out: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for name in (n for n in names if n in PAIR_STAGES):
        own, up = outs[name], outs.get(UPSTREAM[name]) if UPSTREAM[name] else None
        held = own.heldout  # scored where it was trained (the app's server never loads Keras)
        if held is not None and np.array_equal(held[0], u) and np.array_equal(held[1], i):
            out[name] = np.asarray(held[2]), own.heldout_signals
            continue
        if not len(u):
            out[name] = np.zeros(0, np.float32), None
            continue
        raw = np.asarray(STAGE_CLASSES[name].score_pairs(prep, own, up, u, i))
        out[name] = (V.value(prep, raw, i), raw) if raw.ndim == 2 else (raw, None)
    rest = tuple(n for n in names if n not in PAIR_STAGES)
    if rest:
        out.update(B.pair_scores(prep, outs, seed, u, i, rest))
    return out


_MEMO: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # stage model → (sorted pair keys, their signals)


def stage_signals(prep: Prepared, outs: Mapping[str, object], name: str, user_pos: np.ndarray,
                  item_pos: np.ndarray) -> np.ndarray:
    """float32 (n, 5) signals of a signal stage for position pairs, looked up where the stage already predicted them
    (its stage-1 candidates, the held-out pairs, pairs asked before) and predicted once for the rest. Signals do
    not depend on the label weights, so a weight move re-combines them without a model call."""
    own = outs[name]
    n_items = prep.n_items
    keys = np.asarray(user_pos, np.int64) * n_items + np.asarray(item_pos, np.int64)
    try:
        known = _MEMO.get(own.model)
    except TypeError:
        known = None
    if known is None:
        parts_k, parts_s = [], []
        if own.candidate_signals is not None and own.candidates is not None:
            items = own.candidates.items
            rows, cols = np.nonzero(items != PAD)
            parts_k.append(rows.astype(np.int64) * n_items + items[rows, cols])
            parts_s.append(own.candidate_signals[rows, cols])
        if own.heldout is not None and own.heldout_signals is not None:
            parts_k.append(np.asarray(own.heldout[0], np.int64) * n_items + np.asarray(own.heldout[1], np.int64))
            parts_s.append(own.heldout_signals)
        known = _merge(np.concatenate(parts_k) if parts_k else np.zeros(0, np.int64),
                       np.concatenate(parts_s) if parts_s else np.zeros((0, len(V.NAMES)), np.float32))
    pos = np.minimum(np.searchsorted(known[0], keys), max(len(known[0]) - 1, 0))
    found = (known[0][pos] == keys) if len(known[0]) else np.zeros(len(keys), bool)
    if not found.all():
        missing = np.unique(keys[~found])
        up = outs.get(UPSTREAM[name]) if UPSTREAM[name] else None
        raw = np.asarray(STAGE_CLASSES[name].score_pairs(prep, own, up, missing // n_items, missing % n_items),
                         np.float32)
        known = _merge(np.r_[known[0], missing], np.concatenate([known[1], raw]))
        pos = np.searchsorted(known[0], keys)
    try:
        _MEMO[own.model] = known
    except TypeError:
        pass
    return known[1][pos]


def _merge(keys: np.ndarray, signals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique keys and the signals of each key's first occurrence."""
    uniq, first = np.unique(keys, return_index=True)
    return uniq, np.asarray(signals, np.float32)[first]
