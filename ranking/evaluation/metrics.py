"""Offline metric kernels, vectorised over users: one metric per function, formula and source inline.

Where it sits: the evaluation layer under every stage. List metrics take ``gains`` — a float
array (n_users, L) aligned with the ranked lists (column = rank − 1, NaN or 0 for padding) —
and return one value per user; users with nothing relevant get NaN (excluded, not scored 0),
so aggregate with :func:`mean`, which also reports how many users counted. An item is
*relevant* when its gain is > 0. Discounts are 1 / log2(rank + 1).

Conventions: precision@k divides by k even when a list is shorter (a short list is penalised);
AP@k divides by min(k, n_relevant) (so a perfect top-k scores 1 when a user has more than k
positives); MRR is cut at k (0 when no relevant item is in the top k); diversity is
Gini–Simpson 1 − Σ_t p_t², the chance two items drawn (with replacement) differ in topic.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.stats import rankdata

GAIN_FORMS = ("exp", "linear")
LOGLOSS_EPS = 1e-7  # float32 probabilities: an exact 0/1 costs ≈ 16.1 nats, not infinity
_PAIRWISE_CELLS = 1 << 22  # bound on (users × n × n) cells per Kendall chunk


# --- private kernels ---------------------------------------------------------------------

def _clean(gains: np.ndarray, k: int | None) -> np.ndarray:
    """Gains as float64 cut at k with padding (NaN) as 0."""
    g = np.asarray(gains, dtype=np.float64)
    g = g[:, :k] if k is not None else g
    return np.nan_to_num(g, nan=0.0)


def _discount(n: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, n + 2))


def _transform(g: np.ndarray, form: str) -> np.ndarray:
    if form not in GAIN_FORMS:
        raise ValueError(f"unknown gain form {form!r}; valid: {', '.join(GAIN_FORMS)}")
    return np.exp2(g) - 1.0 if form == "exp" else g


def _sorted_desc(gains: np.ndarray) -> np.ndarray:
    """Each row sorted descending, padding last (as 0)."""
    g = np.asarray(gains, dtype=np.float64)
    return np.nan_to_num(-np.sort(np.where(np.isnan(g), np.inf, -g), axis=1), nan=0.0, neginf=0.0)


def _exclude(values: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """NaN for users with no relevant items."""
    return np.where(np.asarray(n_relevant) > 0, values, np.nan)


def _hits(gains: np.ndarray, k: int | None) -> np.ndarray:
    return _clean(gains, k) > 0


# --- ranking metrics (per user) ----------------------------------------------------------

def dcg(gains: np.ndarray, k: int, form: str = "exp") -> np.ndarray:
    """DCG@k = Σ_{r≤k} G(g_r) / log2(r + 1), G = 2^g − 1 (exp) or g (linear).

    Järvelin & Kekäläinen (2002), ACM TOIS 20(4); exponential gain: Burges et al. (2005), ICML.
    """
    g = _transform(_clean(gains, k), form)
    return g @ _discount(g.shape[1])


def ndcg(gains: np.ndarray, ideal: np.ndarray, k: int, form: str = "exp") -> np.ndarray:
    """NDCG@k = DCG@k / IDCG@k, IDCG from each user's ``ideal`` gains (any order); NaN where IDCG = 0.

    Järvelin & Kekäläinen (2002). ``ideal`` is the set the best list could draw from, e.g. the
    user's held-out grades, or the truth of the items eligible for the user.
    """
    idcg = dcg(_sorted_desc(ideal), k, form)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(idcg > 0, dcg(gains, k, form) / idcg, np.nan)


def precision(gains: np.ndarray, k: int, n_relevant: np.ndarray) -> np.ndarray:
    """P@k = |relevant in top k| / k (k even for shorter lists). Manning et al. (2008), IIR §8.4."""
    return _exclude(_hits(gains, k).sum(axis=1) / k, n_relevant)


def recall(gains: np.ndarray, k: int | None, n_relevant: np.ndarray) -> np.ndarray:
    """R@k = |relevant in top k| / n_relevant (k=None: the whole list). Manning et al. (2008), §8.3."""
    n = np.asarray(n_relevant, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _exclude(_hits(gains, k).sum(axis=1) / n, n)


def average_precision(gains: np.ndarray, k: int, n_relevant: np.ndarray) -> np.ndarray:
    """AP@k = Σ_{r≤k} P@r·rel_r / min(k, n_relevant); MAP@k is its mean over users.

    The min(k, n_relevant) normaliser is Kaggle's ``apk`` (ml_metrics); trec_eval divides by
    n_relevant, which caps AP@k below 1 for users with more than k positives.
    """
    rel = _hits(gains, k)
    prec = np.cumsum(rel, axis=1) / np.arange(1, rel.shape[1] + 1)
    n = np.minimum(k, np.asarray(n_relevant, dtype=np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return _exclude((prec * rel).sum(axis=1) / n, n_relevant)


def reciprocal_rank(gains: np.ndarray, k: int | None, n_relevant: np.ndarray) -> np.ndarray:
    """RR@k = 1 / rank of the first relevant item in the top k, 0 if none. Voorhees (1999), TREC-8 QA."""
    rel = _hits(gains, k)
    first = np.argmax(rel, axis=1) if rel.shape[1] else np.zeros(len(rel), np.int64)
    return _exclude(np.where(rel.any(axis=1), 1.0 / (first + 1), 0.0), n_relevant)


def hit_rate(gains: np.ndarray, k: int, n_relevant: np.ndarray) -> np.ndarray:
    """Hit@k = 1 if any relevant item is in the top k, else 0. Deshpande & Karypis (2004), ACM TOIS."""
    return _exclude(_hits(gains, k).any(axis=1).astype(np.float64), n_relevant)


# --- binary classification (held-out pairs) ----------------------------------------------

def auc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """ROC AUC = P(score of a positive > score of a negative), ties ½ — the Mann–Whitney U.

    Hanley & McNeil (1982), Radiology 143. NaN when only one class is present.
    """
    y = np.asarray(y_true) > 0
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(y_score, dtype=np.float64))  # average ranks: ties count ½
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def log_loss(y_true: np.ndarray, p: np.ndarray, eps: float = LOGLOSS_EPS) -> float:
    """Mean −[y·ln p + (1 − y)·ln(1 − p)], p clipped to [eps, 1 − eps]. Good (1952), JRSS B 14."""
    y = (np.asarray(y_true) > 0).astype(np.float64)
    if len(y) == 0:
        return float("nan")
    q = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log1p(-q)))


def calibration(y_true: np.ndarray, p: np.ndarray, n_bins: int = 10,
                strategy: str = "uniform") -> pd.DataFrame:
    """Reliability table: per bin of predicted p, mean prediction, observed rate and count.

    ``uniform``: equal-width bins on [0, 1]; ``quantile``: equal-count bins. A value on an
    edge goes to the lower bin, as in sklearn's ``calibration_curve``; empty bins are dropped.
    DeGroot & Fienberg (1983), The Statistician 32.
    """
    y = (np.asarray(y_true) > 0).astype(np.float64)
    q = np.asarray(p, dtype=np.float64)
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.percentile(q, np.linspace(0, 100, n_bins + 1)) if len(q) else np.linspace(0, 1, n_bins + 1)
    else:
        raise ValueError(f"unknown calibration strategy {strategy!r}; valid: uniform, quantile")
    bins = np.searchsorted(edges[1:-1], q)
    count = np.bincount(bins, minlength=n_bins)
    keep = count > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        pred = np.bincount(bins, weights=q, minlength=n_bins) / count
        obs = np.bincount(bins, weights=y, minlength=n_bins) / count
    return pd.DataFrame({
        "bin_lo": edges[:-1][keep], "bin_hi": edges[1:][keep],
        "mean_predicted": pred[keep], "observed_rate": obs[keep], "count": count[keep].astype(np.int64),
    })


def ece(y_true: np.ndarray, p: np.ndarray, n_bins: int = 10, strategy: str = "uniform") -> float:
    """Expected calibration error Σ_b (n_b / N)·|observed_b − predicted_b|. Naeini et al. (2015), AAAI."""
    table = calibration(y_true, p, n_bins, strategy)
    if table.empty:
        return float("nan")
    w = table["count"].to_numpy() / table["count"].sum()
    return float(np.sum(w * np.abs(table["observed_rate"].to_numpy() - table["mean_predicted"].to_numpy())))


# --- agreement, diversity, coverage ------------------------------------------------------

def kendall_tau(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-row Kendall τ-b between two scorings of the same items (NaN = absent in either).

    τ_b = (C − D) / √((n0 − n1)(n0 − n2)) over pairs present in both rows; n1, n2 count
    pairs tied in x, y. Kendall (1945), Biometrika 33. NaN with < 2 items or all tied.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n_rows, n = x.shape
    out = np.full(n_rows, np.nan)
    step = max(1, _PAIRWISE_CELLS // max(1, n * n))
    for lo in range(0, n_rows, step):
        out[lo:lo + step] = _tau_chunk(x[lo:lo + step], y[lo:lo + step])
    return out


def _tau_chunk(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ok = ~(np.isnan(x) | np.isnan(y))
    # absent in either row → NaN in both, so every comparison with it is False (sign 0)
    x = np.where(ok, x, np.nan)[:, :, None]
    y = np.where(ok, y, np.nan)[:, :, None]
    xt, yt = x.transpose(0, 2, 1), y.transpose(0, 2, 1)
    sx = (x > xt).astype(np.int8) - (x < xt).astype(np.int8)
    sy = (y > yt).astype(np.int8) - (y < yt).astype(np.int8)
    # each unordered pair appears twice with the same sign product: ratios are unchanged
    s = (sx * sy).sum(axis=(1, 2), dtype=np.int64)
    denom = np.sqrt(np.abs(sx).sum(axis=(1, 2), dtype=np.int64) * np.abs(sy).sum(axis=(1, 2), dtype=np.int64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, s / denom, np.nan)


def diversity(topics: np.ndarray, k: int | None = None) -> np.ndarray:
    """Gini–Simpson topic diversity 1 − Σ_t p_t² of each list's top k (topic codes, −1 = padding).

    Simpson (1949), Nature 163. 0 = one topic; at most 1 − 1/T with T topics. NaN for empty lists.
    """
    t = np.asarray(topics)
    t = (t[:, :k] if k is not None else t).astype(np.int64)
    n_rows = t.shape[0]
    valid = t >= 0
    n_topics = int(t.max()) + 1 if valid.any() else 1
    rows = np.broadcast_to(np.arange(n_rows)[:, None], t.shape)
    counts = np.bincount((rows * n_topics + t)[valid], minlength=n_rows * n_topics).reshape(n_rows, n_topics)
    n = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = counts / n[:, None]
        return np.where(n > 0, 1.0 - (p * p).sum(axis=1), np.nan)


def coverage(items: np.ndarray, n_items: int, k: int | None = None) -> float:
    """Catalog coverage: distinct items in any top k / catalog size. Ge et al. (2010), RecSys."""
    it = np.asarray(items)
    it = it[:, :k] if k is not None else it
    return float(np.unique(it[it >= 0]).size / n_items) if n_items else float("nan")


# --- registry ----------------------------------------------------------------------------

METRICS: dict[str, Callable[..., np.ndarray | float | pd.DataFrame]] = {
    "dcg": dcg, "ndcg": ndcg, "precision": precision, "recall": recall, "map": average_precision,
    "mrr": reciprocal_rank, "hit": hit_rate, "auc": auc, "logloss": log_loss, "calibration": calibration,
    "ece": ece, "kendall_tau": kendall_tau, "diversity": diversity, "coverage": coverage,
}


def compute(name: str, *args, **kwargs) -> np.ndarray | float | pd.DataFrame:
    """Run a metric by name; ``"ndcg@10"`` passes k=10. Unknown names raise ValueError with the valid ones."""
    base, _, cut = name.partition("@")
    if base not in METRICS:
        raise ValueError(f"unknown metric {name!r}; valid: {', '.join(sorted(METRICS))}")
    if cut:
        try:
            kwargs["k"] = int(cut)
        except ValueError:
            raise ValueError(f"bad cut-off in {name!r}: expected an integer after '@'") from None
    return METRICS[base](*args, **kwargs)


def mean(values: np.ndarray) -> tuple[float, int]:
    """Mean over users that count (non-NaN) and how many they are; (NaN, 0) when none."""
    v = np.asarray(values, dtype=np.float64)
    ok = ~np.isnan(v)
    n = int(ok.sum())
    return (float(v[ok].mean()) if n else float("nan")), n
