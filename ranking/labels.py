"""The compound engagement label: a weighted sum of post-impression signals, thresholded.

score = w_click·click + w_dwell·(dwell_time / expected_dwell) + w_share·share
        + w_comment·comment − w_hide·hide;     label = score > threshold

Defaults are the notebook's, so its numbers reproduce exactly (37 positives of 106 on the
seed interactions; first rows 2.62, 3.75, 1.255, −1.0, 0.16).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ranking import schema as S
from ranking.errors import ConfigError

EXPECTED_DWELL_MODES = ("mean", "median", "per_topic")
COMMENT_MODES = ("count", "indicator")


@dataclass(frozen=True)
class LabelConfig:
    """Weights, dwell normalisation and threshold of the compound engagement label.

    ``expected_dwell`` is a positive number or one of ``mean`` / ``median`` (of all dwell
    times) / ``per_topic`` (median dwell of each content topic, as the paper suggests per
    vertical). ``comment_mode`` multiplies the raw comment count (notebook) or its
    indicator ``comment > 0`` (the paper's I(·)). ``grade_bounds`` cut the score into the
    paper's graded relevance buckets: below the first → 0, … , above the last → len.
    """

    w_click: float = 1.0
    w_dwell: float = 0.5
    w_share: float = 2.0
    w_comment: float = 1.0
    w_hide: float = 1.0
    expected_dwell: float | str = 10.0
    threshold: float = 2.0
    comment_mode: str = "count"
    grade_bounds: tuple[float, ...] = (1.0, 2.0, 3.0)

    def __post_init__(self) -> None:
        if isinstance(self.expected_dwell, str):
            if self.expected_dwell not in EXPECTED_DWELL_MODES:
                try:
                    object.__setattr__(self, "expected_dwell", float(self.expected_dwell))
                except ValueError:
                    raise ConfigError(
                        f"expected_dwell must be a positive number or one of {EXPECTED_DWELL_MODES}, "
                        f"got {self.expected_dwell!r}"
                    ) from None
        if not isinstance(self.expected_dwell, str) and not float(self.expected_dwell) > 0:
            raise ConfigError(f"expected_dwell must be > 0, got {self.expected_dwell}")
        if self.comment_mode not in COMMENT_MODES:
            raise ConfigError(f"comment_mode must be one of {COMMENT_MODES}, got {self.comment_mode!r}")
        if list(self.grade_bounds) != sorted(self.grade_bounds):
            raise ConfigError(f"grade_bounds must be increasing, got {self.grade_bounds}")
        for name in ("w_click", "w_dwell", "w_share", "w_comment", "w_hide", "threshold"):
            if not np.isfinite(float(getattr(self, name))):
                raise ConfigError(f"{name} must be a finite number")

    def formula(self) -> str:
        """The live formula as LaTeX, with the current numbers."""
        dwell = (
            f"{float(self.expected_dwell):g}"
            if not isinstance(self.expected_dwell, str)
            else r"\text{" + self.expected_dwell.replace("_", " ") + r" dwell}"
        )
        comment = r"\text{comment}" if self.comment_mode == "count" else r"\mathbb{1}[\text{comment}>0]"
        return (
            rf"\text{{score}} = {self.w_click:g}\,\text{{click}} + {self.w_dwell:g}\,"
            rf"\frac{{\text{{dwell}}}}{{{dwell}}} + {self.w_share:g}\,\text{{share}} + "
            rf"{self.w_comment:g}\,{comment} - {self.w_hide:g}\,\text{{hide}}"
            rf"\qquad \text{{label}} = [\text{{score}} > {self.threshold:g}]"
        )


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


def score(interactions: pd.DataFrame, config: LabelConfig = LabelConfig(),
          topics: pd.Series | None = None) -> np.ndarray:
    """Compound engagement score per interaction (float64 array, input order)."""
    col = {c: interactions[c].to_numpy(dtype=np.float64) for c in S.OUTCOMES}
    comment = col[S.COMMENT] if config.comment_mode == "count" else (col[S.COMMENT] > 0).astype(np.float64)
    mode = config.expected_dwell
    expected = float(mode) if not isinstance(mode, str) else expected_dwell_values(interactions, config, topics)
    # The label slider recomputes this for every interaction on each move: accumulate in place,
    # term by term in the formula's order (so every value is bit-for-bit the plain expression's).
    out = config.w_click * col[S.CLICK]
    term = col[S.DWELL] / expected
    term *= config.w_dwell
    out += term
    for weight, values in ((config.w_share, col[S.SHARE]), (config.w_comment, comment)):
        np.multiply(values, weight, out=term)
        out += term
    np.multiply(col[S.HIDE], config.w_hide, out=term)
    out -= term
    return out


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
