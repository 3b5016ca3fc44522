"""The compound engagement label: a weighted sum of post-impression signals, thresholded.

score = w_click·click + w_dwell·(dwell_time / expected_dwell) + w_share·share
        + w_comment·comment − w_hide·hide;     label = score > threshold

Defaults are the notebook's, so its numbers reproduce exactly (37 positives of 106 on the
seed interactions; first rows 2.62, 3.75, 1.255, −1.0, 0.16).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ranking.config import LabelConfig
from ranking.data import schema as S
from ranking.errors import ConfigError

PRESETS: dict[str, LabelConfig] = {
    "Notebook defaults": LabelConfig(),
    "Clicks only": LabelConfig(w_click=1.0, w_dwell=0.0, w_share=0.0, w_comment=0.0, w_hide=0.0, threshold=0.5),
    "Deep engagement": LabelConfig(w_click=0.5, w_dwell=1.0, w_share=2.0, w_comment=1.5, w_hide=2.0,
                                   expected_dwell="median", threshold=3.0),
    "Dwell per topic": LabelConfig(expected_dwell="per_topic"),
    "Punish hides": LabelConfig(w_hide=5.0),
}


def expected_dwell_values(interactions: pd.DataFrame, config: LabelConfig,
                          topics: pd.Series | None = None) -> np.ndarray:
    """The dwell normaliser for every interaction row (a constant or per-topic medians)."""
    n = len(interactions)
    mode = config.expected_dwell
    dwell = interactions[S.DWELL].to_numpy(dtype=np.float64)
    if not isinstance(mode, str):
        return np.full(n, float(mode))
    if mode in ("mean", "median"):
        value = float(np.mean(dwell) if mode == "mean" else np.median(dwell)) if n else 1.0
        return np.full(n, value if value > 0 else 1.0)
    if topics is None:
        raise ConfigError("expected_dwell='per_topic' needs each interaction's content topic")
    topic_arr = np.asarray(topics.astype(str))
    med = pd.Series(dwell).groupby(topic_arr).median()
    med = med.where(med > 0, 1.0)
    return med.reindex(topic_arr).to_numpy(dtype=np.float64)


def expected_dwell_per_item(interactions: pd.DataFrame, content: pd.DataFrame,
                            config: LabelConfig) -> float | np.ndarray:
    """The label's dwell normaliser for each item (content row order): what an impression of it is divided by.

    A number stays a number; ``mean`` / ``median`` is over the interactions' dwell times;
    ``per_topic`` is each topic's median (1.0 where it is not positive, as in ``expected_dwell_values``;
    topics without interactions get the median over all interactions).
    """
    mode = config.expected_dwell
    if not isinstance(mode, str):
        return float(mode)
    if mode in ("mean", "median"):
        return _all_dwell(interactions, mode)
    topics = content_topics(interactions, content)
    med = pd.Series(interactions[S.DWELL].to_numpy(dtype=np.float64)).groupby(np.asarray(topics)).median()
    med = med.where(med > 0, 1.0)
    fallback = _all_dwell(interactions, "median")
    return med.reindex(content[S.TOPIC].astype(str).to_numpy()).fillna(fallback).to_numpy(dtype=np.float64)


def _all_dwell(interactions: pd.DataFrame, mode: str) -> float:
    dwell = interactions[S.DWELL].to_numpy(dtype=np.float64)
    value = float(np.mean(dwell) if mode == "mean" else np.median(dwell)) if len(dwell) else 1.0
    return value if value > 0 else 1.0


def score(interactions: pd.DataFrame, config: LabelConfig = LabelConfig(),
          topics: pd.Series | None = None) -> np.ndarray:
    """Compound engagement score per interaction (float64 array, input order)."""
    col = {c: interactions[c].to_numpy(dtype=np.float64) for c in S.OUTCOMES}
    comment = col[S.COMMENT] if config.comment_mode == "count" else (col[S.COMMENT] > 0).astype(np.float64)
    mode = config.expected_dwell
    expected = float(mode) if not isinstance(mode, str) else expected_dwell_values(interactions, config, topics)
    return config.combine(col[S.CLICK], col[S.DWELL] / expected, col[S.SHARE], comment, col[S.HIDE])


def label(scores: np.ndarray, config: LabelConfig = LabelConfig()) -> np.ndarray:
    """Binary label: 1 where the score is strictly above the threshold."""
    return (np.asarray(scores) > config.threshold).astype(np.int8)


def grade(scores: np.ndarray, config: LabelConfig = LabelConfig()) -> np.ndarray:
    """Graded relevance 0..len(grade_bounds): how many bounds the score is strictly above."""
    return np.searchsorted(np.asarray(config.grade_bounds), np.asarray(scores), side="left").astype(np.int8)


def content_topics(interactions: pd.DataFrame, content: pd.DataFrame) -> pd.Series:
    """Each interaction's content topic (for per-topic dwell normalisation)."""
    topic_by_id = pd.Series(content[S.TOPIC].astype(str).to_numpy(), index=content[S.CONTENT_ID].to_numpy())
    return pd.Series(topic_by_id.reindex(interactions[S.CONTENT_ID].to_numpy()).to_numpy(), index=interactions.index)


def labelled(interactions: pd.DataFrame, content: pd.DataFrame, config: LabelConfig = LabelConfig()) -> pd.DataFrame:
    """A copy of the interactions, in input order, with score, label and grade columns added."""
    topics = content_topics(interactions, content) if config.expected_dwell == "per_topic" else None
    s = score(interactions, config, topics)
    out = interactions.copy()
    out[S.SCORE] = s
    out[S.LABEL] = label(s, config)
    out[S.GRADE] = grade(s, config)
    return out
