"""Beyond-accuracy metrics of ranked lists: novelty, intra-list diversity, topic calibration, popularity bias.

Where it sits: evaluation, beside the accuracy metrics of ``metrics``; computed for every stage
list and every baseline on each list's top k. Per-user kernels take the top-k item positions
(n_users, k; ``PAD`` = −1 for padding) and return one value per user (NaN = empty list / not
counted); the catalogue-level exposure Gini is one number. Vectorised with bincounts: no loop
over users or items.

"Topic calibration" here is Steck's (2018) match between the topics a user engaged with and the
topics of the feed. It has nothing to do with *probability* calibration (ECE, reliability
diagrams), which asks whether predicted click probabilities come true.
"""

from __future__ import annotations

import numpy as np

from ranking import names
from ranking.data import schema as S
from ranking.prep.lists import PAD
from ranking.prep.split import ITEM_POS, USER_POS, Prepared

STECK_ALPHA = 0.01  # Steck (2018) §3: q̃ = (1 − α)·q + α·p with "small α > 0, e.g. α = 0.01"
KEYS = ("novelty", "intra_list_diversity", "topic_calibration_kl", "avg_rec_popularity", "exposure_gini")


def _row_counts(codes: np.ndarray, n_codes: int) -> np.ndarray:
    """(n_rows, n_codes) counts of each code per row; codes < 0 are ignored."""
    codes = np.asarray(codes, np.int64)
    rows = np.broadcast_to(np.arange(codes.shape[0])[:, None], codes.shape)
    ok = codes >= 0
    flat = np.bincount((rows * n_codes + codes)[ok], minlength=codes.shape[0] * n_codes)
    return flat.reshape(codes.shape[0], n_codes).astype(np.float64)


def _codes(items: np.ndarray, item_code: np.ndarray) -> np.ndarray:
    return np.where(items == PAD, -1, np.asarray(item_code)[np.maximum(items, 0)])


def novelty(items: np.ndarray, popularity: np.ndarray, n_users: int) -> np.ndarray:
    """Mean self-information −log₂ p(i) of each list's items, p(i) = (n_i + 1) / (n_users + 1).

    Zhou et al. (2010), PNAS 107; Vargas & Castells (2011), RecSys. ``popularity`` is the share of
    users n_i / n_users who engaged with the item in training; the add-one smoothing keeps an
    item nobody engaged with finite (log₂(n_users + 1) bits).
    """
    p = (np.asarray(popularity, np.float64) * n_users + 1.0) / (n_users + 1.0)
    info = np.where(items == PAD, 0.0, -np.log2(p)[np.maximum(items, 0)])
    n = (items != PAD).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, info.sum(axis=1) / n, np.nan)


def intra_list_diversity(items: np.ndarray, item_topic: np.ndarray, item_publisher: np.ndarray) -> np.ndarray:
    """ILD = mean distance over the list's item pairs, d(i, j) = ½·[topics differ] + ½·[publishers differ].

    Ziegler et al. (2005), WWW. Same-topic pairs of a list = Σ_t c_t(c_t − 1)/2 from per-row topic
    counts c_t (publishers likewise). NaN for lists with fewer than 2 items.
    """
    n = (items != PAD).sum(axis=1).astype(np.float64)
    pairs = n * (n - 1) / 2
    same = []
    for code in (item_topic, item_publisher):
        c = _row_counts(_codes(items, code), int(np.max(code)) + 1 if len(code) else 1)
        same.append((c * (c - 1) / 2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, 1.0 - 0.5 * (same[0] + same[1]) / pairs, np.nan)


def topic_calibration_kl(items: np.ndarray, history: np.ndarray, item_topic: np.ndarray,
                         alpha: float = STECK_ALPHA) -> np.ndarray:
    """Steck's miscalibration C_KL(p, q) = Σ_t p(t|u)·ln(p(t|u) / q̃(t|u)), q̃ = (1 − α)·q + α·p (nats).

    Steck (2018), "Calibrated recommendations", RecSys. p = topic shares of the user's history
    (``history``: (n_users, n_topics) counts), q = topic shares of the list (every listed item
    weighs the same). 0 = the feed mirrors the history; NaN for users with no history or an
    empty list.
    """
    n_topics = history.shape[1]
    q_counts = _row_counts(_codes(items, item_topic), n_topics)
    h, m = history.sum(axis=1, keepdims=True), q_counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        p, q = history / h, q_counts / m
        q_tilde = (1 - alpha) * q + alpha * p
        terms = np.where(p > 0, p * np.log(p / q_tilde), 0.0)
    return np.where((h[:, 0] > 0) & (m[:, 0] > 0), terms.sum(axis=1), np.nan)


def avg_rec_popularity(items: np.ndarray, popularity: np.ndarray) -> np.ndarray:
    """ARP: mean popularity (share of users who engaged in training) of each list's items.

    Abdollahpouri et al. (2019), "Managing popularity bias in recommender systems", FLAIRS.
    """
    pop = np.where(items == PAD, np.nan, np.asarray(popularity, np.float64)[np.maximum(items, 0)])
    n = (items != PAD).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.nansum(pop, axis=1) / n, np.nan)


def exposure_gini(items: np.ndarray, n_items: int) -> float:
    """Gini coefficient of how often each catalogue item appears in the lists (0 = equal exposure, →1 = few items).

    G = Σ_j (2j − n − 1)·x_(j) / (n·Σ x) over the n catalogue items' exposure counts sorted
    ascending (items never listed count 0). Fleder & Hosanagar (2009), Management Science 55.
    """
    x = np.sort(np.bincount(items[items != PAD].astype(np.int64), minlength=n_items).astype(np.float64))
    n, total = len(x), x.sum()
    if n == 0 or total == 0:
        return float("nan")
    j = np.arange(1, n + 1)
    return float(((2 * j - n - 1) * x).sum() / (n * total))


def topic_history(prep: Prepared) -> np.ndarray:
    """Per user, topic counts of label-positive training interactions: (n_users, n_topics) float64."""
    train = prep.train
    pos = train[train[S.LABEL].to_numpy() > 0]
    users = pos[USER_POS].to_numpy(np.int64)
    topics = prep.item_topic[pos[ITEM_POS].to_numpy(np.int64)].astype(np.int64)
    n_topics = len(prep.topics)
    flat = np.bincount(users * n_topics + topics, minlength=prep.n_users * n_topics)
    return flat.reshape(prep.n_users, n_topics).astype(np.float64)


def beyond_accuracy(prep: Prepared, items: np.ndarray, k: int, popularity: np.ndarray,
                    history: np.ndarray) -> dict[str, float]:
    """Every beyond-accuracy metric of one list's top k, averaged over users with a value: key → number."""
    head = np.asarray(items)[:, :k]

    def mean(v: np.ndarray) -> float:
        return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")

    return {
        names.at("novelty", k): mean(novelty(head, popularity, prep.n_users)),
        names.at("intra_list_diversity", k): mean(intra_list_diversity(head, prep.item_topic, prep.item_publisher)),
        names.at("topic_calibration_kl", k): mean(topic_calibration_kl(head, history, prep.item_topic)),
        names.at("avg_rec_popularity", k): mean(avg_rec_popularity(head, popularity)),
        names.at("exposure_gini", k): exposure_gini(head, prep.n_items),
    }
