"""User bootstrap: 95 % intervals for means and ratios of per-user sums, and for paired differences.

Where it sits: under the per-impression metrics and the counterfactual estimates. Impressions of
one user are not independent (same tastes, same history), so resampling impressions would give
intervals that are too narrow; users are resampled with replacement instead (Efron & Tibshirani
1993, the percentile interval), each resample keeping all of a user's impressions. A statistic is
a ratio Σ_u num_u / Σ_u den_u of per-user sums (a mean over impressions: num = the metric summed
over the user's impressions, den = their count), so a resample is a weighted sum with multinomial
counts per user: one matrix product per block of resamples, no loop over users.
"""

from __future__ import annotations

import numpy as np

N_BOOT = 400  # resamples: percentile ends to about ±0.01 in coverage
LEVEL = 0.95
_BLOCK_CELLS = 4_000_000  # resamples × users per block of multinomial counts


def per_user(user: np.ndarray, *values: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Users present and each value summed per user (in that user order)."""
    users, inverse = np.unique(np.asarray(user), return_inverse=True)
    return users, [np.bincount(inverse, weights=np.asarray(v, np.float64), minlength=len(users)) for v in values]


def resample_counts(n_users: int, n_boot: int, seed: int) -> np.ndarray:
    """int32 (n_boot, n_users): how often each user is drawn in each resample (deterministic per seed)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_users, np.full(n_users, 1.0 / n_users), size=n_boot).astype(np.int32) \
        if n_users else np.zeros((n_boot, 0), np.int32)


def ratio_draws(num: np.ndarray, den: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(n_boot, ...) resampled Σ num / Σ den; ``num`` (n_users,) or (n_users, m) for m statistics at once."""
    num = np.asarray(num, np.float64)
    step = max(1, _BLOCK_CELLS // max(counts.shape[1], 1))
    top = np.concatenate([counts[lo:lo + step] @ num for lo in range(0, len(counts), step)]) if len(counts) else \
        np.zeros((0, *num.shape[1:]))
    bottom = np.concatenate([counts[lo:lo + step] @ np.asarray(den, np.float64)
                             for lo in range(0, len(counts), step)]) if len(counts) else np.zeros(0)
    bottom = bottom.reshape(-1, *([1] * (top.ndim - 1)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), np.nan)


def interval(draws: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of bootstrap draws along axis 0 (NaN draws ignored; NaN when none is finite)."""
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    draws = np.asarray(draws, np.float64)
    if not np.isfinite(draws).any():
        shape = draws.shape[1:]
        return np.full(shape, np.nan), np.full(shape, np.nan)
    with np.errstate(all="ignore"):
        return np.nanquantile(draws, lo, axis=0), np.nanquantile(draws, hi, axis=0)
