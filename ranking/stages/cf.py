"""Stage 1's collaborative-filtering source: a truncated SVD of the engagement matrix and its score rows.

Where it sits: inside stage 1 (``ranking.stages.candidates`` builds the matrix and blends the score).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds

_DENSE_SVD_MAX = 1_000_000  # up to this many matrix cells an exact dense SVD is cheap
_CF_BLOCK = 256  # users per float64 CF product (see _cf_scores)


def _cf_scores(user_factors: np.ndarray, item_factors: np.ndarray) -> np.ndarray:
    """float32 (users, items) of the float64 products, a block of users at a time.

    One float64 users × items temporary per chunk would be faulted in afresh (and cast) each
    time; a small reused block buffer gives the same values in a third of the time.
    """
    n = len(user_factors)
    out = np.empty((n, len(item_factors)), np.float32)
    buf = np.empty((min(_CF_BLOCK, n), len(item_factors)))
    for lo in range(0, n, _CF_BLOCK):
        block = user_factors[lo:lo + _CF_BLOCK]
        np.matmul(block, item_factors.T, out=buf[:len(block)])
        out[lo:lo + len(block)] = buf[:len(block)]
    return out



def _factorise(matrix: sp.csr_matrix, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank-k truncated SVD A ≈ U·diag(s)·Vᵀ as factors U·√s, V·√s (float64); empty rows stay zero."""
    n_users, n_items = matrix.shape
    rank = min(k, n_users, n_items)
    if rank == 0 or matrix.nnz == 0:
        width = max(rank, 1)
        return np.zeros((n_users, width)), np.zeros((n_items, width)), np.zeros(width)
    if n_users * n_items <= _DENSE_SVD_MAX or rank >= min(n_users, n_items) - 1:
        u, s, vt = np.linalg.svd(matrix.toarray(), full_matrices=False)
        u, s, vt = u[:, :rank], s[:rank], vt[:rank]
    else:  # ARPACK from a seeded start vector: deterministic
        v0 = np.random.default_rng(seed).uniform(-1.0, 1.0, min(n_users, n_items))
        u, s, vt = svds(matrix.astype(np.float64), k=rank, v0=v0)
        order = np.argsort(-s, kind="stable")
        u, s, vt = u[:, order], s[order], vt[order]
    s = np.where(s > 1e-10 * s.max(), s, 0.0)  # numerically null directions carry no signal
    users, items = u * np.sqrt(s), vt.T * np.sqrt(s)
    for factors in (users, items):  # rows outside the kept span are rounding noise: make them exactly 0
        norm = np.linalg.norm(factors, axis=1)
        factors[norm <= 1e-9 * max(norm.max(), 1e-300)] = 0.0
    users[np.diff(matrix.indptr) == 0] = 0.0
    items[np.bincount(matrix.indices, minlength=n_items) == 0] = 0.0
    return users, items, s
