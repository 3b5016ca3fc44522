"""Ranked lists for many users at once: padded 2-D arrays and deterministic ordering.

Every stage hands the next one a ``RankedLists``: row = user position, column = rank − 1,
``-1`` / NaN padding where a user has fewer items. Ties in score break by item position
(ascending), which is content order, so the same input always gives the same list.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

PAD = -1


@dataclass(frozen=True, eq=False)
class RankedLists:
    """Per-user ranked item lists: ``items`` int32 and ``scores`` float32, shape (n_users, L)."""

    items: np.ndarray
    scores: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        """Number of real (non-padded) items per user."""
        return (self.items != PAD).sum(axis=1)

    @property
    def width(self) -> int:
        return self.items.shape[1]

    def head(self, n: int) -> RankedLists:
        """The first n ranks of every list."""
        return RankedLists(self.items[:, :n], self.scores[:, :n])

    def to_frame(self, user_ids: np.ndarray, item_ids: np.ndarray, stage: str) -> pd.DataFrame:
        """Long format: user_id, content_id, stage, rank (1..n), score."""
        rows, cols = np.nonzero(self.items != PAD)
        return pd.DataFrame({
            "user_id": np.asarray(user_ids)[rows],
            "content_id": np.asarray(item_ids)[self.items[rows, cols]],
            "stage": stage,
            "rank": (cols + 1).astype(np.int32),
            "score": self.scores[rows, cols].astype(np.float64),
        })


def order_rows(items: np.ndarray, scores: np.ndarray, keep: int | None = None) -> RankedLists:
    """Sort each row by score descending, ties by item position; padding last; keep the first ``keep``."""
    items = np.asarray(items)
    scores = np.asarray(scores, dtype=np.float32)
    pad = items == PAD
    key = np.where(pad | np.isnan(scores), np.inf, -scores.astype(np.float64))
    tie = np.where(pad, np.iinfo(np.int32).max, items)
    n_rows = items.shape[0]
    row = np.repeat(np.arange(n_rows), items.shape[1]).reshape(items.shape)
    order = np.lexsort((tie.ravel(), key.ravel(), row.ravel())).reshape(items.shape) - row * items.shape[1]
    out_items = np.take_along_axis(items, order, axis=1).astype(np.int32)
    out_scores = np.take_along_axis(scores, order, axis=1)
    out_scores = np.where(out_items == PAD, np.nan, out_scores).astype(np.float32)
    if keep is not None:
        out_items, out_scores = out_items[:, :keep], out_scores[:, :keep]
    return RankedLists(out_items, out_scores)


def top_k(scores: np.ndarray, k: int, valid: np.ndarray | None = None) -> RankedLists:
    """The k best columns of each row of a dense (n_rows, n_items) score matrix, tie-exact.

    Invalid entries (``valid`` False or NaN score) are never chosen; rows with fewer valid
    entries are padded. Among equal scores the lower item position wins, also at the cut.
    """
    scores = np.asarray(scores, dtype=np.float32)
    n_rows, n_items = scores.shape
    k = min(k, n_items)
    ok = ~np.isnan(scores) if valid is None else (np.asarray(valid) & ~np.isnan(scores))
    if k == 0 or n_rows == 0:
        return RankedLists(np.full((n_rows, k), PAD, np.int32), np.full((n_rows, k), np.nan, np.float32))
    masked = np.where(ok, scores, -np.inf)
    kth = np.partition(masked, n_items - k, axis=1)[:, n_items - k]
    above = masked > kth[:, None]
    at = (masked == kth[:, None]) & ok
    need = k - above.sum(axis=1)
    take = above | (at & (np.cumsum(at, axis=1) <= need[:, None]))
    rows, cols = np.nonzero(take)
    counts = np.bincount(rows, minlength=n_rows)
    slot = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    items = np.full((n_rows, k), PAD, dtype=np.int32)
    vals = np.full((n_rows, k), np.nan, dtype=np.float32)
    items[rows, slot] = cols
    vals[rows, slot] = scores[rows, cols]
    return order_rows(items, vals)
