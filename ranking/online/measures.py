"""What a served log says: value per impression, coverage, exposure Gini, popularity, homogenisation, NDCG.

Where it sits: under ``ranking.online.abtest`` and ``ranking.online.loop``; arrays in, numbers out.
The feedback-loop measures follow Chaney et al. (2018) and Mansoury et al. (2020).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ranking.config import LabelConfig
from ranking.data import schema as S
from ranking.data.truth import dwell_divisor, non_negative

SIGNAL_NAMES = {S.CLICK: "clicks", S.DWELL: "dwell (s)", S.SHARE: "shares", S.COMMENT: "comments",
                S.HIDE: "hides", "value": "compound value"}


def impression_value(log: dict[str, np.ndarray], labels: LabelConfig) -> np.ndarray:
    """Each impression's compound score Σ wᵢ·signalᵢ (hide subtracted, dwell ÷ the label's expected dwell)."""
    div = dwell_divisor(labels)
    comment = log[S.COMMENT].astype(np.float64)
    if labels.comment_mode == "indicator":
        comment = (comment > 0).astype(np.float64)
    return labels.combine(log[S.CLICK].astype(np.float64), log[S.DWELL] / div, log[S.SHARE].astype(np.float64),
                          comment, log[S.HIDE].astype(np.float64))


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative counts: Σᵢ (2i − n − 1)·xᵢ / (n·Σx), x sorted ascending (0 = equal)."""
    x = np.sort(np.asarray(counts, np.float64))
    n, total = len(x), x.sum()
    if n == 0 or total == 0:
        return float("nan")
    return float(((2 * np.arange(1, n + 1) - n - 1) * x).sum() / (n * total))


def jaccard_pairs(user: np.ndarray, item: np.ndarray, n_users: int, n_items: int, pairs: int,
                  rng: np.random.Generator) -> float:
    """Mean Jaccard similarity |A∩B| / |A∪B| of the item sets shown to random pairs of distinct active users."""
    m = sp.csr_matrix((np.ones(len(user)), (user, item)), shape=(n_users, n_items))
    m.data[:] = 1.0
    m.sum_duplicates()
    m.data[:] = 1.0
    active = np.flatnonzero(np.diff(m.indptr) > 0)
    if len(active) < 2:
        return float("nan")
    a = active[rng.integers(0, len(active), pairs)]
    b = active[(np.searchsorted(active, a) + rng.integers(1, len(active), pairs)) % len(active)]  # b ≠ a
    inter = np.asarray(m[a].multiply(m[b]).sum(1)).ravel()
    size = np.diff(m.indptr)
    return float(np.mean(inter / (size[a] + size[b] - inter)))


def ndcg_at(slates: np.ndarray, gain: np.ndarray, eligible: np.ndarray, k: int = 10) -> np.ndarray:
    """Per user NDCG@k of a slate against the truth's gains (max(gain, 0)), the ideal over eligible items.

    NaN for users whose ideal DCG is 0."""
    g = non_negative(gain.astype(np.float32)).astype(np.float64)
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    s = slates[:, :k]
    got = np.where(s >= 0, np.take_along_axis(g, np.maximum(s, 0), 1), 0.0)
    dcg = (got * disc[:s.shape[1]]).sum(1)
    ideal = -np.sort(-np.where(eligible, g, 0.0), axis=1)[:, :k]
    idcg = (ideal * disc[:ideal.shape[1]]).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(idcg > 0, dcg / idcg, np.nan)


def taste_distance(taste: np.ndarray) -> np.ndarray:
    """Each user's Euclidean distance of topic tastes θ from the average user's (large = niche)."""
    return np.linalg.norm(taste - taste.mean(0), axis=1)
