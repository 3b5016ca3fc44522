"""Ranked lists for many users at once: padded 2-D arrays and deterministic ordering.

Every stage hands the next one a ``RankedLists``: row = user position, column = rank − 1,
``-1`` / NaN padding where a user has fewer items. Ties in score break by item position
(ascending), which is content order, so the same input always gives the same list.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ranking.data import schema as S

PAD = -1
_MIN64 = np.iinfo(np.int64).min


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
            S.USER_ID: np.asarray(user_ids)[rows],
            S.CONTENT_ID: np.asarray(item_ids)[self.items[rows, cols]],
            "stage": stage,
            "rank": (cols + 1).astype(np.int32),
            "score": self.scores[rows, cols].astype(np.float64),
        })


def order_key(scores: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The one tie rule as a unique int64 per entry: higher score first, then the lower item position.

    Keys order exactly like (score descending, position ascending); a NaN score sorts below every real
    score (still by position), so it is listed last. float32 scores are compared as float32.
    """
    bits = np.add(scores, np.float32(0.0), dtype=np.float32).view(np.int32)  # −0.0 becomes +0.0
    bits ^= (bits >> 31) & np.int32(0x7FFFFFFF)  # negative floats: reverse magnitude bits, int order = float order
    bits = np.where(np.isnan(scores), np.iinfo(np.int32).min, bits)
    key = bits.astype(np.int64)
    key <<= 32
    key |= np.int64(0xFFFFFFFF) - np.asarray(positions, dtype=np.int64)
    return key


def row_order(items: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per-row permutation that sorts by ``order_key`` (best first), padding last."""
    key = order_key(scores, np.maximum(items, 0))
    key[items == PAD] = _MIN64
    return np.argsort(~key, axis=1, kind="stable")  # ~x reverses the order without overflow at the minimum


def order_rows(items: np.ndarray, scores: np.ndarray, keep: int | None = None) -> RankedLists:
    """Sort each row by score descending, ties by item position; NaN scores, then padding, last."""
    items = np.asarray(items)
    scores = np.asarray(scores, dtype=np.float32)
    order = row_order(items, scores)
    if keep is not None:
        order = order[:, :keep]
    out_items = np.take_along_axis(items, order, axis=1).astype(np.int32)
    out_scores = np.take_along_axis(scores, order, axis=1)
    out_scores = np.where(out_items == PAD, np.nan, out_scores).astype(np.float32)
    return RankedLists(out_items, out_scores)


def top_k(scores: np.ndarray, k: int, valid: np.ndarray | None = None) -> RankedLists:
    """The k best columns of each row of a dense (n_rows, n_items) score matrix, tie-exact.

    Invalid entries (``valid`` False or NaN score) are never chosen; rows with fewer valid entries are
    padded. Among equal scores the lower item position wins, also at the cut (``order_key``). One float
    partition; only rows whose ties straddle the cut are redone on the unique integer keys.
    """
    scores = np.asarray(scores, dtype=np.float32)
    n, m = scores.shape
    k = min(k, m)
    if k == 0 or n == 0:
        return RankedLists(np.full((n, k), PAD, np.int32), np.full((n, k), np.nan, np.float32))
    masked = np.array(scores, dtype=np.float32)
    if valid is not None:
        np.copyto(masked, -np.inf, where=~np.asarray(valid, dtype=bool))
    masked[np.isnan(masked)] = -np.inf
    part = np.argpartition(masked, m - k, axis=1)[:, m - k:]
    kth = masked[np.arange(n), part[:, 0]]
    tied = np.nonzero((np.count_nonzero(masked >= kth[:, None], axis=1) > k) | (kth == -np.inf))[0]
    if len(tied):
        key = order_key(masked[tied], np.arange(m, dtype=np.int64))
        key[masked[tied] == -np.inf] = _MIN64
        part[tied] = np.argpartition(key, m - k, axis=1)[:, m - k:]
    top = np.take_along_axis(masked, part, axis=1)
    items = np.take_along_axis(part, row_order(part, top), axis=1).astype(np.int32)
    best = np.take_along_axis(masked, items, axis=1)
    items[best == -np.inf] = PAD
    return RankedLists(items, np.where(items == PAD, np.nan, np.take_along_axis(scores, np.maximum(items, 0), axis=1)
                                       ).astype(np.float32))
