"""Stage 2's training table: target interactions with history-only features (no label leaks in).

Where it sits: built by ``ranking.stages.gbdt`` (which documents the history/target scheme) and
reused by stage 3, which learns from the same rows. Besides the binary label each row carries the
logged signals (``ranking.stages.value.targets``) and the slot it was shown in, so a value model
can learn each signal with the position's effect separated out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ranking.data import schema as S
from ranking.errors import TrainingError
from ranking.prep.split import IS_TEST, ITEM_POS, USER_POS, Prepared, seconds
from ranking.stages import features as F
from ranking.stages import value as V

HISTORY_SHARE = 0.7
VALID_SHARE = 0.15


@dataclass(frozen=True, eq=False)
class TrainingTable:
    """Stage 2's training rows (the target interactions), sorted by user then time."""

    X: np.ndarray  # float32 (n, F)
    feature_names: tuple[str, ...]
    y: np.ndarray  # int8 binary label
    grade: np.ndarray  # int8 graded relevance
    user_pos: np.ndarray  # int32
    item_pos: np.ndarray  # int32
    at_s: np.ndarray  # int64 event time, seconds since the epoch
    is_valid: np.ndarray  # bool: row of a validation user
    oof_score: np.ndarray  # float32 out-of-fold stage-2 score (NaN until fit computes it)
    signals: np.ndarray | None = None  # float32 (n, 5) logged signals (``value.targets``)
    oof_signals: np.ndarray | None = None  # float32 (n, 5) out-of-fold stage-2 signal predictions
    glm_margin: np.ndarray | None = None  # float64 (n, 5) the GLM's margins stage 2 boosts from (signals mode)

    def __len__(self) -> int:
        return len(self.y)


def history_mask(train: pd.DataFrame) -> np.ndarray:
    """Per row of ``train``: True for the user's earliest ⌊0.7·n⌋ interactions (at most n − 1)."""
    n = len(train)
    user = train[USER_POS].to_numpy(np.int64)
    order = np.lexsort((np.arange(n), train[S.CONTENT_ID].to_numpy(), seconds(train[S.EVENT_TS]), user))
    counts = np.bincount(user, minlength=int(user.max()) + 1 if n else 0)
    starts = np.cumsum(counts) - counts
    rank = np.arange(n) - starts[user[order]]
    n_user = counts[user[order]]
    n_hist = np.minimum(np.floor(HISTORY_SHARE * n_user), n_user - 1)
    out = np.empty(n, dtype=bool)
    out[order] = rank < n_hist
    return out


def history_prep(prep: Prepared, history: pd.DataFrame) -> Prepared:
    """``prep`` as if ``history`` were all there is: its train, seen matrix and serving time."""
    inter = history.assign(**{IS_TEST: False})
    pairs = (inter[USER_POS].to_numpy(), inter[ITEM_POS].to_numpy())
    seen = sp.csr_matrix((np.ones(len(inter), dtype=bool), pairs), shape=(prep.n_users, prep.n_items))
    seen.sum_duplicates()
    seen.data[:] = True
    t = seconds(inter[S.EVENT_TS])
    t_serve = int(t.max()) if len(t) else prep.t_serve_s
    return dataclasses.replace(prep, interactions=inter, seen=seen, t_serve_s=t_serve, now_s=t_serve)


def training_table(prep: Prepared, stage1, seed: int) -> TrainingTable:
    """Target rows with history-only features (see the module docstring); ``oof_score`` is NaN."""
    train = prep.train
    if len(train) == 0:
        raise TrainingError("stage 2 has no training interactions to learn from")
    is_hist = history_mask(train)
    hist, target = train[is_hist], train[~is_hist]
    hprep = history_prep(prep, hist)
    gen = type(stage1)(stage1.config, seed=seed).fit(hprep)
    stats = F.fit_stats(prep, hist)
    at = seconds(target[S.EVENT_TS])
    u = target[USER_POS].to_numpy(np.int32)
    i = target[ITEM_POS].to_numpy(np.int32)
    order = np.lexsort((i, at, u))  # XGBoost's ranking objective needs rows grouped by query (user)
    u, i, at = u[order], i[order], at[order]
    position = (target[S.POSITION].to_numpy(np.float32)[order] if S.POSITION in target
                else np.full(len(u), np.nan, np.float32))
    X, names = F.build(hprep, stats, gen.score_pairs(hprep, u, i), u, i, at, position=position)
    users = np.unique(u)
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    n_valid = int(np.clip(round(VALID_SHARE * len(users)), 1, len(users) - 1)) if len(users) > 1 else 0
    valid_users = rng.permutation(users)[:n_valid]
    return TrainingTable(
        X=X, feature_names=tuple(names), y=target[S.LABEL].to_numpy(np.int8)[order],
        grade=target[S.GRADE].to_numpy(np.int8)[order], user_pos=u, item_pos=i, at_s=at.astype(np.int64),
        is_valid=np.isin(u, valid_users), oof_score=np.full(len(u), np.nan, np.float32),
        signals=V.targets(target.iloc[order]))


