"""Frozen configuration of every stage and of the whole pipeline (plain values only: hashable)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np

from ranking.errors import ConfigError

Source = Literal["topic", "popularity", "cf", "glm", "hybrid"]
DwellMode = Literal["mean", "median", "per_topic"]
CommentMode = Literal["count", "indicator"]
SplitMethod = Literal["auto", "impression", "users", "date", "time", "random", "none"]
SPLIT_METHODS: tuple[str, ...] = get_args(SplitMethod)
Objective = Literal["binary:logistic", "rank:ndcg"]
Diversity = Literal["none", "mmr", "caps"]
Target = Literal["signals", "label"]
TARGETS: tuple[Target, ...] = get_args(Target)
SOURCES: tuple[Source, ...] = get_args(Source)
EXPECTED_DWELL_MODES: tuple[DwellMode, ...] = get_args(DwellMode)
COMMENT_MODES: tuple[CommentMode, ...] = get_args(CommentMode)


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
    expected_dwell: float | DwellMode = 10.0
    threshold: float = 2.0
    comment_mode: CommentMode = "count"
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

    def combine(self, click, dwell_ratio, share, comment, hide) -> np.ndarray:
        """The compound score w_click·click + w_dwell·dwell_ratio + w_share·share + w_comment·comment − w_hide·hide,
        float64, in the formula's order: the one place it is written. Logged signals make the label
        (``ranking.prep.labels``), expected ones the truth's gain and the value model (``ranking.data.truth``).
        ``dwell_ratio`` is dwell / expected dwell; ``comment`` is already the count or its indicator."""
        out = self.w_click * np.asarray(click, np.float64)
        term = np.asarray(dwell_ratio, np.float64) * self.w_dwell  # in place from here: the slider runs this
        out += term
        for weight, values in ((self.w_share, share), (self.w_comment, comment)):
            np.multiply(np.asarray(values, np.float64), weight, out=term)
            out += term
        np.multiply(np.asarray(hide, np.float64), self.w_hide, out=term)
        out -= term
        return out

    def formula_text(self) -> str:
        """The formula in plain text, e.g. ``1·click + 0·dwell/10 + … > 0.5``."""
        dwell = f"{float(self.expected_dwell):g}" if not isinstance(self.expected_dwell, str) else self.expected_dwell
        return (f"{self.w_click:g}·click + {self.w_dwell:g}·dwell/{dwell} + {self.w_share:g}·share + "
                f"{self.w_comment:g}·comment − {self.w_hide:g}·hide > {self.threshold:g}")

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



@dataclass(frozen=True)
class SplitConfig:
    """How interactions are split into training and held-out evaluation data.

    Splits that keep each logged impression (slate) whole, for data that knows its impressions (an
    ``impression_id`` column, as MIND's import writes, or a generated world's slates):

    - ``impression``: each user's latest ``test_fraction`` of impressions (at least one), whole;
    - ``users``: a seeded random ``test_fraction`` of users, all of their impressions held out;
    - ``date``: every impression that starts at or after ``cut_date`` (ISO time, UTC; empty = the
      time that leaves ``test_fraction`` of the impressions after it) is held out.

    Row splits, for data without impressions (the notebook's CSVs): ``time``, each user's latest
    ``test_fraction`` of interactions; ``random``, a seeded random share per user. ``auto`` (default)
    is ``impression`` when the data has impressions, else ``time``. Users with fewer than
    ``min_history`` interactions (or, in an impression split, a single impression) keep them all for
    training and are not evaluated (counted in the result). ``none``: train on everything, hold
    nothing out (data too small to evaluate; no held-out metrics).
    """

    method: SplitMethod = "auto"
    test_fraction: float = 0.2
    min_history: int = 3
    cut_date: str = ""

    def __post_init__(self) -> None:
        if self.method not in SPLIT_METHODS:
            raise ConfigError(f"split method must be one of {', '.join(map(repr, SPLIT_METHODS))}, got {self.method!r}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ConfigError(f"test_fraction must be in (0, 1), got {self.test_fraction}")
        if self.min_history < 2:
            raise ConfigError("min_history must be ≥ 2 (one interaction to train on, one to hold out)")
        if self.cut_date:
            try:
                import pandas as pd

                pd.Timestamp(self.cut_date)
            except (ValueError, TypeError):
                raise ConfigError(f"cut_date must be an ISO date or time like 2025-04-25, got {self.cut_date!r}"
                                  ) from None


@dataclass(frozen=True)
class CandidateConfig:
    """Stage 1: which source proposes candidates, how many (K) and which eligibility filters apply.

    ``k=0`` means "scale with the catalog": ``default_k(n_items)``. ``quotas`` give the
    hybrid's share of the K slots per source, in fill order. ``max_age_days``: items older than
    this at serving time ("now") are not eligible (0 = no age limit); the oracle uses the same rule.
    """

    source: Source = "hybrid"
    k: int = 0
    quotas: tuple[tuple[str, float], ...] = (("glm", 0.4), ("cf", 0.2), ("topic", 0.2), ("popularity", 0.2))
    cf_factors: int = 16
    popularity_half_life_days: float = 3.0
    filter_region: bool = True
    filter_blocklist: bool = True
    filter_seen: bool = True
    max_age_days: float = 7.0

    def __post_init__(self) -> None:
        if not (isinstance(self.max_age_days, int | float) and math.isfinite(self.max_age_days)
                and self.max_age_days >= 0):
            raise ConfigError(f"max_age_days must be a number ≥ 0 (0 = no limit), got {self.max_age_days!r}")
        if self.source not in SOURCES:
            raise ConfigError(f"unknown candidate source {self.source!r}; valid: {', '.join(SOURCES)}")
        if self.k < 0:
            raise ConfigError(f"K must be ≥ 0 (0 = scale with the catalog), got {self.k}")
        for name, share in self.quotas:
            if name not in SOURCES[:-1]:
                raise ConfigError(f"unknown quota source {name!r}; valid: {', '.join(SOURCES[:-1])}")
            if share < 0:
                raise ConfigError(f"quota for {name} must be ≥ 0")
        if self.source == "hybrid" and sum(s for _, s in self.quotas) <= 0:
            raise ConfigError("hybrid quotas must add up to more than 0")
        if self.cf_factors < 1:
            raise ConfigError("cf_factors must be ≥ 1")

    def resolved_k(self, n_items: int) -> int:
        """K for a catalog of n_items (never more than the catalog)."""
        return min(n_items, self.k or default_k(n_items))


def default_k(n_items: int) -> int:
    """Candidates per user when K is not set: grows like 2·√catalog, at least 20."""
    return max(20, round(2 * math.sqrt(n_items)))


@dataclass(frozen=True)
class GBDTConfig:
    """Stage 2: XGBoost on candidate-dependent features; keeps the top ``top_n`` for stage 3."""

    objective: Objective = "binary:logistic"  # or "rank:ndcg" (LambdaMART)
    n_estimators: int = 300
    max_depth: int = 3  # shallow trees won on the generated worlds (oracle NDCG, see the README)
    learning_rate: float = 0.1
    min_child_weight: float = 1.0
    subsample: float = 0.9
    colsample_bytree: float = 0.9
    early_stopping_rounds: int = 20
    top_n: int = 20
    n_jobs: int = 2
    boost_from_glm: bool = True  # signals mode: the trees correct the per-signal GLM (ranking.stages.glm)

    def __post_init__(self) -> None:
        if self.objective not in get_args(Objective):
            raise ConfigError(f"objective must be 'rank:ndcg' or 'binary:logistic', got {self.objective!r}")
        if self.n_estimators < 1 or self.max_depth < 1 or self.top_n < 1:
            raise ConfigError("n_estimators, max_depth and top_n must be ≥ 1")
        if not 0 < self.learning_rate <= 1:
            raise ConfigError("learning_rate must be in (0, 1]")


@dataclass(frozen=True)
class NeuralConfig:
    """Stage 3: a Keras MLP re-ranking stage 2's top N."""

    hidden: tuple[int, ...] = (64, 32)
    dropout: float = 0.2
    id_embeddings: bool = True
    embedding_dim: int = 8
    use_stage2_score: bool = True
    epochs: int = 15
    batch_size: int = 256
    learning_rate: float = 3e-3

    def __post_init__(self) -> None:
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ConfigError("hidden layers must be positive sizes")
        if not 0 <= self.dropout < 1:
            raise ConfigError("dropout must be in [0, 1)")
        if self.epochs < 1 or self.batch_size < 1 or self.embedding_dim < 1:
            raise ConfigError("epochs, batch_size and embedding_dim must be ≥ 1")
        if not self.learning_rate > 0:
            raise ConfigError("learning_rate must be > 0")


@dataclass(frozen=True)
class PostConfig:
    """Post-processing of the final list: a quality floor, an age limit, then diversity (MMR or caps)."""

    m: int = 10
    diversity: Diversity = "mmr"
    mmr_lambda: float = 0.8  # 1 = pure relevance
    max_per_topic: int = 4
    max_per_publisher: int = 3
    quality_floor: float = 0.0
    max_age_hours: float = 0.0  # drop items older than this at serving time; 0 = no limit

    def __post_init__(self) -> None:
        if self.max_age_hours < 0:
            raise ConfigError("max_age_hours must be ≥ 0 (0 = no limit)")
        if self.diversity not in get_args(Diversity):
            raise ConfigError(f"diversity must be 'none', 'mmr' or 'caps', got {self.diversity!r}")
        if self.m < 1:
            raise ConfigError("M (final list length) must be ≥ 1")
        if not 0 <= self.mmr_lambda <= 1:
            raise ConfigError("mmr_lambda must be in [0, 1]")
        if self.max_per_topic < 1 or self.max_per_publisher < 1:
            raise ConfigError("caps must be ≥ 1")


@dataclass(frozen=True)
class EvalConfig:
    """Cut-offs for the offline metrics."""

    k: int = 10

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ConfigError("evaluation k must be ≥ 1")


@dataclass(frozen=True)
class PipelineConfig:
    """Everything that determines a run: label, split, stages, evaluation and the seed.

    ``target`` is what stages 2 and 3 learn. ``signals`` (default): each engagement signal is
    predicted and the feed orders by Σ wᵢ·predictionᵢ with the *current* label weights, so a
    weight change re-ranks without retraining (stage 1 and the count features then learn from
    clicks, which no weight changes). ``label``: the notebook's path, threshold the compound
    score into a binary label and train classifiers on it (a weight change needs a retrain).
    """

    seed: int = 42
    target: Target = "signals"
    labels: LabelConfig = field(default_factory=LabelConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    stage1: CandidateConfig = field(default_factory=CandidateConfig)
    stage2: GBDTConfig = field(default_factory=GBDTConfig)
    stage3: NeuralConfig = field(default_factory=NeuralConfig)
    post: PostConfig = field(default_factory=PostConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ConfigError(f"target must be one of {', '.join(TARGETS)}, got {self.target!r}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (tuples become lists)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> PipelineConfig:
        """Build from a (possibly partial) dict such as a config JSON file; unknown keys raise."""
        parts = {f.name: f.type for f in dataclasses.fields(cls)}
        kinds = {"labels": LabelConfig, "split": SplitConfig, "stage1": CandidateConfig,
                 "stage2": GBDTConfig, "stage3": NeuralConfig, "post": PostConfig, "eval": EvalConfig}
        unknown = set(raw) - set(parts)
        if unknown:
            raise ConfigError(f"unknown config keys {sorted(unknown)}; valid: {sorted(parts)}")
        kwargs: dict[str, Any] = {}
        for key, value in raw.items():
            if key in kinds:
                kwargs[key] = _build(kinds[key], value, key)
            else:
                kwargs[key] = value
        return cls(**kwargs)


def _build(kind: type, value: dict[str, Any], where: str) -> Any:
    if not isinstance(value, dict):
        raise ConfigError(f"config section {where!r} must be an object")
    names = {f.name for f in dataclasses.fields(kind)}
    unknown = set(value) - names
    if unknown:
        raise ConfigError(f"unknown keys in {where!r}: {sorted(unknown)}; valid: {sorted(names)}")
    fixed = {k: _tuplify(v) for k, v in value.items()}
    try:
        return kind(**fixed)
    except TypeError as exc:
        raise ConfigError(f"bad value in {where!r}: {exc}") from None


def _tuplify(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_tuplify(x) for x in v)
    return v


CLICKS_ONLY = LabelConfig(w_click=1.0, w_dwell=0.0, w_share=0.0, w_comment=0.0, w_hide=0.0, threshold=0.5)


def default_labels(recorded: tuple[str, ...]) -> LabelConfig:
    """The label to start from for a log that records only some signals: the notebook's compound label
    when all five are there, clicks only when only clicks are (MIND): the other weights would multiply zeros."""
    return LabelConfig() if set(recorded) - {"click"} else CLICKS_ONLY
