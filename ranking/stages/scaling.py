"""Inputs of the neural stage: checks of the training arrays, and preprocessing (median imputation with
missing indicators, standardising, clipping), learned on training rows only (``fit_scaler``) and applied
unchanged at serving (``apply_scaler``).
"""

from __future__ import annotations

import warnings

import numpy as np

from ranking.errors import TrainingError

N_SIGNALS = 5  # heads of a signals model (ranking.stages.value.SIGNALS)
CLIP = 5.0  # standardised inputs are clipped to ±5 sd so one outlier cannot saturate a ReLU


def fit_scaler(m: np.ndarray) -> dict[str, np.ndarray]:
    """Median per column, which columns get a missing indicator, then mean/sd of the imputed result."""
    finite = np.isfinite(m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-missing column: median is NaN → 0 below
        median = np.nanmedian(np.where(finite, m, np.nan), axis=0)
    stats = {"median": np.nan_to_num(median).astype(np.float32),
             "missing": np.flatnonzero(~finite.all(axis=0))}
    z = impute(m, stats)
    stats["mean"] = z.mean(axis=0, dtype=np.float64).astype(np.float32)
    sd = z.std(axis=0, dtype=np.float64)
    stats["scale"] = np.where(sd > 1e-12, sd, 1.0).astype(np.float32)
    if len(z):  # serving inputs stay within the training rows' range: a ReLU net extrapolates linearly and
        zs = (z - stats["mean"]) / stats["scale"]  # far (item ages past what the logging policy showed)
        stats["lo"], stats["hi"] = zs.min(axis=0).astype(np.float32), zs.max(axis=0).astype(np.float32)
    return stats


def impute(m: np.ndarray, stats: dict[str, np.ndarray]) -> np.ndarray:
    """Missing values → the column median, plus a 0/1 indicator per column in ``stats["missing"]``."""
    n, width = m.shape
    out = np.empty((n, width + len(stats["missing"])), np.float32)
    out[:, :width] = m
    bad = ~np.isfinite(m)
    np.copyto(out[:, :width], np.broadcast_to(stats["median"], m.shape), where=bad)
    out[:, width:] = bad[:, stats["missing"]]
    return out


def apply_scaler(m: np.ndarray, stats: dict[str, np.ndarray]) -> np.ndarray:
    z = impute(m, stats)
    z -= stats["mean"]
    z /= stats["scale"]
    if "lo" in stats:
        np.clip(z, stats["lo"], stats["hi"], out=z)
    return np.clip(z, -CLIP, CLIP, out=z)


def check_table(X: np.ndarray, y: np.ndarray, user_pos: np.ndarray, item_pos: np.ndarray,
                 is_valid: np.ndarray | None, n_users: int, n_items: int) -> tuple[np.ndarray, ...]:
    """Validated training arrays; ``TrainingError`` when the table cannot train a classifier."""
    X = matrix(X)
    n = len(X)
    y = np.asarray(y)
    y = y.astype(np.float32) if y.ndim == 2 else y.ravel()
    if len(y) != n or (y.ndim == 2 and y.shape[1] != N_SIGNALS):
        raise ValueError(f"y has shape {y.shape} for {n} rows (expected ({n},) or ({n}, {N_SIGNALS}))")
    if y.ndim == 1 and n and not np.isin(y, (0, 1)).all():
        raise ValueError("y must hold 0/1 labels only")
    users, items = positions(user_pos, n, "user_pos"), positions(item_pos, n, "item_pos")
    for name, pos, size in (("user_pos", users, n_users), ("item_pos", items, n_items)):
        if n and (pos.min() < 0 or pos.max() >= size):
            raise ValueError(f"{name} must lie in [0, {size}) during training")
    valid = np.zeros(n, bool) if is_valid is None else np.asarray(is_valid, bool).ravel()
    if valid.shape != (n,):
        raise ValueError(f"is_valid has {valid.size} values for {n} rows")
    if valid.all():
        raise TrainingError("stage 3 has no training rows: the table is empty or every row is a "
                            "validation row")
    classes = np.unique((y[~valid, 0] > 0).astype(np.int8) if y.ndim == 2 else y[~valid])
    if len(classes) < 2:
        raise TrainingError(f"stage 3 cannot train: every training label is {int(classes[0])} "
                            f"({int((~valid).sum())} rows); it needs both positives and negatives")
    return X, y, users, items, valid


def matrix(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[1] < 1:
        raise ValueError(f"X must be a 2-D array with at least one column, got shape {X.shape}")
    return X


def column(values: np.ndarray | None, n: int) -> np.ndarray:
    col = np.asarray(values, dtype=np.float32)
    col = col if col.ndim == 2 else col.reshape(-1, 1)
    if len(col) != n:
        raise ValueError(f"stage2_score has {len(col)} values for {n} rows")
    return col


def positions(pos: np.ndarray, n: int, name: str) -> np.ndarray:
    pos = np.asarray(pos).ravel()
    if pos.shape != (n,) or (n and not np.issubdtype(pos.dtype, np.integer)):
        raise ValueError(f"{name} must be {n} integer positions, got shape {pos.shape} dtype {pos.dtype}")
    return pos.astype(np.int64)
