"""Stage-2 features of (user, item) pairs: what the GBDT ranker sees, and nothing it shouldn't.

Where it sits: between stage 1 (candidates and their stage-1 scores) and stage 2 (XGBoost).
Every feature is known *before* the impression: user and content attributes, cross features
that depend on the candidate (topic match, user–publisher history, region match, blocklist,
freshness) and the stage-1 scores. Post-impression signals (click, dwell_time, share, comment,
hide) and the label made from them are never inputs; they enter only as *counts over past
interactions* in ``FeatureStats``, fitted on whichever interactions the caller passes — the
history part when training (see ``ranking.stages.gbdt``), the whole training set when serving.

Smoothed rates are Bayesian averages: ``(positives + m·prior) / (impressions + m)`` with
``m = PRIOR_STRENGTH`` pseudo-impressions at ``prior`` = the positive rate over all the
interactions the stats were fitted on (0 when there are none).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ranking.data import schema as S
from ranking.prep.split import ITEM_POS, USER_POS, Prepared

PRIOR_STRENGTH = 5.0  # pseudo-impressions at the global rate: a rate from 2 impressions stays near the prior
AFFINITY_PREFIX = "affinity_"
STAGE1_KEYS = ("topic", "popularity", "cf", "stage1_score", "stage1_rank")

# Fixed features, in matrix order after the per-topic stated affinities.
FEATURE_NAMES = (
    "session_length", "device", "region", "user_impressions", "user_rate",
    "item_topic", "item_publisher", "quality", "age_hours", "item_impressions", "item_rate",
    "topic_match", "publisher_rate", "publisher_impressions", "topic_rate", "region_match",
    "blocked_publisher", "position",
    "s1_topic", "s1_popularity", "s1_cf", "stage1_score", "stage1_rank",
)
_STAGE1_COLUMNS = dict(zip(FEATURE_NAMES[-5:], STAGE1_KEYS, strict=True))

DESCRIPTIONS = {
    AFFINITY_PREFIX + "*": "The user's stated affinity for this topic (profile column; missing if none).",
    "session_length": "The user's average session length (profile).",
    "device": "The user's device type (code: mobile, desktop, tablet).",
    "region": "The user's region (code into NA, EU, AS, SA, AF, OC).",
    "user_impressions": "How many past impressions the user has (activity).",
    "user_rate": "The user's smoothed share of positive past impressions.",
    "item_topic": "The item's topic (code).",
    "item_publisher": "The item's publisher (code).",
    "quality": "The item's quality score.",
    "age_hours": "Hours since publication when the item is shown (freshness).",
    "item_impressions": "How often the item was shown in the past (popularity).",
    "item_rate": "The item's smoothed share of positive past impressions (CTR-like).",
    "topic_match": "The user's stated affinity for this item's topic.",
    "publisher_rate": "The user's smoothed positive rate on this item's publisher (user–publisher affinity).",
    "publisher_impressions": "How often the user was shown this publisher before.",
    "topic_rate": "The user's smoothed positive rate on this item's topic.",
    "region_match": "1 if the item is restricted to the user's region, 0 if open to all, −1 if elsewhere.",
    "blocked_publisher": "1 if the user's blocklist names this item's publisher.",
    "position": "The feed slot of the impression: the logged slot in training (missing when not logged), "
                "slot 1 when serving, so every prediction is for the top of the feed (position bias removed).",
    "s1_topic": "Stage 1's topic-source score for the pair.",
    "s1_popularity": "Stage 1's popularity-source score for the item.",
    "s1_cf": "Stage 1's collaborative-filtering score for the pair.",
    "stage1_score": "Stage 1's blended candidate score.",
    "stage1_rank": "The item's rank in the user's stage-1 candidate list.",
}

GROUPS = {
    **dict.fromkeys(("session_length", "device", "region", "user_impressions", "user_rate"), "user"),
    **dict.fromkeys(("item_topic", "item_publisher", "quality", "age_hours", "item_impressions", "item_rate"),
                    "content"),
    **dict.fromkeys(("topic_match", "publisher_rate", "publisher_impressions", "topic_rate", "region_match",
                     "blocked_publisher"), "cross"),
    "position": "context",
    **dict.fromkeys(FEATURE_NAMES[-5:], "stage 1"),
}


def feature_names(topics: tuple[str, ...]) -> list[str]:
    """All feature names for a dataset with these topics, in matrix column order."""
    return [AFFINITY_PREFIX + t for t in topics] + list(FEATURE_NAMES)


def describe(name: str) -> str:
    """Human-readable meaning of a feature (for the UI)."""
    if name.startswith(AFFINITY_PREFIX):
        return f"The user's stated affinity for {name[len(AFFINITY_PREFIX):]} (profile; missing if none)."
    return DESCRIPTIONS.get(name, name)


def group(name: str) -> str:
    """The feature family: user, content, cross or stage 1."""
    return "user" if name.startswith(AFFINITY_PREFIX) else GROUPS.get(name, "other")


@dataclass(frozen=True, eq=False)
class FeatureStats:
    """Impressions and positives counted by user, item, user×topic and user×publisher."""

    prior: float  # positive rate over the interactions counted
    strength: float  # pseudo-impressions of the prior
    user_n: np.ndarray  # float32 (n_users,)
    user_pos: np.ndarray
    item_n: np.ndarray  # float32 (n_items,)
    item_pos: np.ndarray
    user_topic_n: np.ndarray  # float32 (n_users, n_topics)
    user_topic_pos: np.ndarray
    pub_key: np.ndarray  # int64 sorted user_pos·n_publishers + publisher code, for the pairs seen
    pub_n: np.ndarray  # float32, aligned with pub_key
    pub_pos: np.ndarray
    n_publishers: int
    user_device: np.ndarray  # float32 device code (NaN if unknown)
    user_session: np.ndarray  # float32 average session length

    def rate(self, positives: np.ndarray, impressions: np.ndarray) -> np.ndarray:
        """Bayesian average of a positive rate toward the prior."""
        return ((positives + self.strength * self.prior) / (impressions + self.strength)).astype(np.float32)

    def publisher_counts(self, user_pos: np.ndarray, publisher: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Impressions and positives of each (user, publisher) pair; 0 where never shown."""
        key = np.asarray(user_pos, dtype=np.int64) * self.n_publishers + np.asarray(publisher, dtype=np.int64)
        if not len(self.pub_key):
            return np.zeros(len(key), np.float32), np.zeros(len(key), np.float32)
        at = np.minimum(np.searchsorted(self.pub_key, key), len(self.pub_key) - 1)
        hit = self.pub_key[at] == key
        n = np.where(hit, self.pub_n[at], 0).astype(np.float32)
        pos = np.where(hit, self.pub_pos[at], 0).astype(np.float32)
        return n, pos


def fit_stats(prep: Prepared, interactions: pd.DataFrame, strength: float = PRIOR_STRENGTH) -> FeatureStats:
    """Count impressions and positive labels in ``interactions`` (rows of ``prep.interactions``)."""
    u = interactions[USER_POS].to_numpy(dtype=np.int64)
    i = interactions[ITEM_POS].to_numpy(dtype=np.int64)
    y = interactions[S.LABEL].to_numpy(dtype=np.float64)
    n_users, n_items, n_topics, n_pub = prep.n_users, prep.n_items, len(prep.topics), len(prep.publishers)
    topic = prep.item_topic[i].astype(np.int64)
    pub = prep.item_publisher[i].astype(np.int64)

    def count(index: np.ndarray, size: int, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(index, weights=weights, minlength=size).astype(np.float32)

    ut = u * n_topics + topic
    keys, inverse = np.unique(u * n_pub + pub, return_inverse=True)
    users = prep.dataset.users
    device = users[S.DEVICE].astype(str).to_numpy()
    return FeatureStats(
        prior=float(y.mean()) if len(y) else 0.0, strength=float(strength),
        user_n=count(u, n_users), user_pos=count(u, n_users, y),
        item_n=count(i, n_items), item_pos=count(i, n_items, y),
        user_topic_n=count(ut, n_users * n_topics).reshape(n_users, n_topics),
        user_topic_pos=count(ut, n_users * n_topics, y).reshape(n_users, n_topics),
        pub_key=keys.astype(np.int64), pub_n=count(inverse, len(keys)), pub_pos=count(inverse, len(keys), y),
        n_publishers=n_pub,
        user_device=np.where(np.isin(device, S.DEVICES), pd.Index(S.DEVICES).get_indexer(device), np.nan)
        .astype(np.float32),
        user_session=users[S.SESSION].to_numpy(dtype=np.float32, na_value=np.nan),
    )


def build(prep: Prepared, stats: FeatureStats, stage1_pairs: dict, user_pos: np.ndarray, item_pos: np.ndarray,
          at_s: np.ndarray | int, position: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """float32 (n_pairs, n_features) matrix for the (user, item) pairs, shown at time ``at_s`` (seconds)
    in feed slot ``position`` (default slot 1: serving predicts the top of the feed)."""
    u = np.asarray(user_pos, dtype=np.int64)
    i = np.asarray(item_pos, dtype=np.int64)
    missing = [k for k in STAGE1_KEYS if k not in stage1_pairs]
    if missing:
        raise ValueError(f"stage1_pairs lacks {missing}; expected keys {list(STAGE1_KEYS)}")
    names = feature_names(prep.topics)
    n_aff = len(prep.topics)
    X = np.empty((len(u), len(names)), dtype=np.float32, order="F")  # filled by column: keep columns contiguous
    X[:, :n_aff] = prep.user_affinity[u]
    topic = prep.item_topic[i].astype(np.int64)
    pub = prep.item_publisher[i].astype(np.int64)
    restriction = prep.item_restriction[i]
    region = prep.user_region[u]
    pub_n, pub_pos = stats.publisher_counts(u, pub)
    cols = {
        "session_length": stats.user_session[u],
        "device": stats.user_device[u],
        "region": region,
        "user_impressions": stats.user_n[u],
        "user_rate": stats.rate(stats.user_pos[u], stats.user_n[u]),
        "item_topic": topic,
        "item_publisher": pub,
        "quality": prep.item_quality[i],
        "age_hours": (np.asarray(at_s, dtype=np.int64) - prep.item_published_s[i]) / 3600.0,
        "item_impressions": stats.item_n[i],
        "item_rate": stats.rate(stats.item_pos[i], stats.item_n[i]),
        "topic_match": prep.user_affinity[u, topic],
        "publisher_rate": stats.rate(pub_pos, pub_n),
        "publisher_impressions": pub_n,
        "topic_rate": stats.rate(stats.user_topic_pos[u, topic], stats.user_topic_n[u, topic]),
        "region_match": np.where(restriction < 0, 0, np.where(restriction == region, 1, -1)),
        "blocked_publisher": _pair_flags(prep, u, pub),
        "position": np.ones(len(u), np.float32) if position is None else position,
        **{name: np.asarray(stage1_pairs[key]) for name, key in _STAGE1_COLUMNS.items()},
    }
    for j, name in enumerate(FEATURE_NAMES):
        X[:, n_aff + j] = cols[name]
    return np.ascontiguousarray(X), names


def _pair_flags(prep: Prepared, u: np.ndarray, pub: np.ndarray) -> np.ndarray:
    """1.0 where the user's blocklist names the publisher (sparse lookup, no dense users × publishers)."""
    if not prep.blocked.nnz or not len(u):
        return np.zeros(len(u), dtype=np.float32)
    return np.asarray(prep.blocked[u, pub], dtype=np.float32).reshape(-1)


def outcome_free(names: list[str]) -> bool:
    """True when no feature is a post-impression signal or a label column."""
    banned = {*S.OUTCOMES, S.SCORE, S.LABEL, S.GRADE}
    return not any(n in banned or any(o in n for o in S.OUTCOMES) for n in names)


__all__ = ["DESCRIPTIONS", "FEATURE_NAMES", "FeatureStats", "build", "describe", "feature_names", "fit_stats",
           "group", "outcome_free"]
