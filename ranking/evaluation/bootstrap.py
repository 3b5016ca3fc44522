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


def ratio_draws(num: np.ndarray, den: np.ndarray, seed: int, n_boot: int = N_BOOT) -> np.ndarray:
    """(n_boot, m) resampled Σ num / Σ den of m statistics at once (``num`` (n_users, m); ``den`` (n_users, m) or
    (n_users,)). Every statistic sees the same resampled users, so differences of draws are paired. The
    multinomial counts are drawn block by block from one seeded generator (deterministic per seed and user
    count) and never held whole."""
    num = np.asarray(num, np.float64).reshape(len(num), -1)
    den = np.asarray(den, np.float64)
    den = np.broadcast_to(den.reshape(len(den), -1), num.shape)
    n_users = len(num)
    if not n_users:
        return np.full((n_boot, num.shape[1]), np.nan)
    rng = np.random.default_rng(seed)
    both = np.concatenate([num, den], axis=1)
    step = max(1, _BLOCK_CELLS // n_users)
    parts = []
    for lo in range(0, n_boot, step):
        counts = rng.multinomial(n_users, np.full(n_users, 1.0 / n_users), size=min(step, n_boot - lo))
        parts.append(counts.astype(np.float64) @ both)
    sums = np.concatenate(parts)
    top, bottom = sums[:, :num.shape[1]], sums[:, num.shape[1]:]
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
