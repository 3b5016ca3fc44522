"""Orchestration: prepare → stage 1 → stage 2 → stage 3 → post-processing → evaluation.

Each stage has its own function so the dashboard can train one stage at a time and keep
the results in the browser session; ``run`` chains them all with a progress callback.
Results are plain objects: nothing here reads or writes files (see ranking.data.store).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ranking.config import PipelineConfig
from ranking.data.dataset import Dataset
from ranking.errors import TrainingError
from ranking.evaluation import evaluate as E
from ranking.prep.lists import RankedLists, order_rows
from ranking.prep.split import ITEM_POS, USER_POS, Prepared, prepare
from ranking.stages.candidates import CandidateGenerator, Candidates
from ranking.stages.gbdt import GBDTRanker
from ranking.stages.postprocess import PostResult, postprocess

Progress = Callable[[str, float, str], None]  # (stage, fraction 0..1, message)
STAGES = ("stage1", "stage2", "stage3", "final")


def _quiet(stage: str, fraction: float, message: str) -> None:
    pass


@dataclass(eq=False)
class Stage1Result:
    """Stage 1: the fitted generator and every user's candidates."""

    model: CandidateGenerator
    lists: Candidates
    seconds: float


@dataclass(eq=False)
class Stage2Result:
    """Stage 2: the fitted XGBoost ranker, its scores over all candidates and its top N."""

    model: GBDTRanker
    lists: RankedLists  # top N per user
    candidate_scores: np.ndarray  # (n_users, K) stage-2 score of every stage-1 candidate
    seconds: float


@dataclass(eq=False)
class Stage3Result:
    """Stage 3: the fitted Keras re-ranker and its re-ordering of stage 2's top N."""

    model: object  # ranking.stages.neural.NeuralReranker (imported lazily: TensorFlow is heavy)
    lists: RankedLists
    seconds: float


@dataclass(eq=False)
class PipelineResult:
    """Everything a run produced: stage outputs, metrics, transitions and timings."""

    config: PipelineConfig
    prep: Prepared
    stage1: Stage1Result
    stage2: Stage2Result
    stage3: Stage3Result
    post: PostResult
    evaluation: dict
    timing_s: dict[str, float] = field(default_factory=dict)

    def lists(self) -> dict[str, RankedLists]:
        """The ranked lists of every stage, keyed by stage name."""
        return {"stage1": self.stage1.lists, "stage2": self.stage2.lists,
                "stage3": self.stage3.lists, "final": self.post.lists}

    def rankings_frame(self) -> pd.DataFrame:
        """Long table user_id, content_id, stage, rank, score for every stage (deterministic order)."""
        return rankings_frame(self.prep, self.lists())


def prepare_data(dataset: Dataset, config: PipelineConfig) -> Prepared:
    """Label and split the interactions; fails early with a clear message if training is impossible."""
    prep = prepare(dataset, config.labels, config.split, config.seed)
    train = prep.train
    if len(train) == 0:
        raise TrainingError("there are no training interactions")
    n_pos = int(train["label"].sum())
    if n_pos == 0:
        raise TrainingError(
            f"no training interaction is positive at threshold {config.labels.threshold:g}: "
            "lower the threshold or raise a weight")
    if n_pos == len(train):
        raise TrainingError(
            f"every training interaction is positive at threshold {config.labels.threshold:g}: "
            "raise the threshold so the models see both classes")
    return prep


def train_stage1(prep: Prepared, config: PipelineConfig) -> Stage1Result:
    """Fit candidate generation on training interactions and generate every user's candidates."""
    t0 = time.perf_counter()
    model = CandidateGenerator(config.stage1, seed=config.seed).fit(prep)
    lists = model.generate(prep)
    return Stage1Result(model, lists, time.perf_counter() - t0)


def train_stage2(prep: Prepared, s1: Stage1Result, config: PipelineConfig,
                 progress: Callable[[int, dict], None] | None = None) -> Stage2Result:
    """Fit the XGBoost ranker and score every candidate; keep the top N per user."""
    t0 = time.perf_counter()
    model = GBDTRanker(config.stage2, seed=config.seed).fit(prep, s1.model, progress=progress)
    scores = model.score(prep, s1.lists)
    lists = order_rows(s1.lists.items, scores, keep=config.stage2.top_n)
    return Stage2Result(model, lists, scores, time.perf_counter() - t0)


def train_stage3(prep: Prepared, s2: Stage2Result, config: PipelineConfig,
                 progress: Callable[[int, dict], None] | None = None) -> Stage3Result:
    """Fit the Keras re-ranker on stage 2's training table and re-rank stage 2's top N."""
    from ranking.stages.neural import NeuralReranker

    t0 = time.perf_counter()
    table = s2.model.table_
    model = NeuralReranker(config.stage3, seed=config.seed).fit(
        table.X, table.y, user_pos=table.user_pos, item_pos=table.item_pos,
        n_users=prep.n_users, n_items=prep.n_items,
        stage2_score=table.oof_score if config.stage3.use_stage2_score else None,
        is_valid=table.is_valid, feature_names=list(table.feature_names), progress=progress)
    lists = rerank_stage3(prep, s2, model)
    return Stage3Result(model, lists, time.perf_counter() - t0)


def rerank_stage3(prep: Prepared, s2: Stage2Result, model, users: np.ndarray | None = None) -> RankedLists:
    """Score stage 2's top N with the neural model (one batched call) and re-order."""
    lists = s2.lists if users is None else RankedLists(s2.lists.items[users], s2.lists.scores[users])
    X, user_pos, item_pos, mask = s2.model.features_for(prep, lists, users=users)
    stage2_score = lists.scores[mask]
    p = model.predict(X, user_pos=user_pos, item_pos=item_pos, stage2_score=stage2_score)
    scores = np.full(lists.items.shape, np.nan, dtype=np.float32)
    scores[mask] = p
    return order_rows(lists.items, scores)


def finalize(prep: Prepared, s3: Stage3Result, config: PipelineConfig) -> PostResult:
    """Post-processing of stage 3's list: diversity and quality floor, M items."""
    return postprocess(prep, s3.lists, config.post)


def evaluate_run(prep: Prepared, config: PipelineConfig, s1: Stage1Result, s2: Stage2Result | None = None,
                 s3: Stage3Result | None = None, post: PostResult | None = None) -> dict:
    """Metrics per stage and per transition for whatever stages exist so far."""
    k = config.eval.k
    lists: dict[str, RankedLists] = {"stage1": s1.lists}
    pair_scores: dict[str, tuple | None] = {"stage1": None}
    test = prep.test
    tu, ti = test[USER_POS].to_numpy(), test[ITEM_POS].to_numpy()
    if s2 is not None:
        lists["stage2"] = s2.lists
        pair_scores["stage2"] = (tu, ti, s2.model.score_pairs(prep, tu, ti)) if len(tu) else None
    if s3 is not None and s2 is not None:
        lists["stage3"] = s3.lists
        s2_pairs = pair_scores["stage2"][2] if len(tu) else None  # computed just above: not again
        pair_scores["stage3"] = (tu, ti, stage3_score_pairs(prep, s2, s3, tu, ti, s2_pairs)) if len(tu) else None
    if post is not None:
        lists["final"] = post.lists
        pair_scores["final"] = None
    return E.evaluate_pipeline(prep, lists, k=k, cand_config=config.stage1, pair_scores=pair_scores,
                               seed=config.seed)


def stage3_score_pairs(prep: Prepared, s2: Stage2Result, s3: Stage3Result, user_pos: np.ndarray,
                       item_pos: np.ndarray, stage2_score: np.ndarray | None = None) -> np.ndarray:
    """Stage-3 probabilities for arbitrary (user, item) pairs, e.g. held-out interactions.

    ``stage2_score``: the pairs' stage-2 scores when the caller already has them (saves a pass).
    """
    X = s2.model.pair_features(prep, user_pos, item_pos)
    s2_score = s2.model.score_pairs(prep, user_pos, item_pos) if stage2_score is None else stage2_score
    return s3.model.predict(X, user_pos=user_pos, item_pos=item_pos, stage2_score=s2_score)


def run(dataset: Dataset, config: PipelineConfig | None = None, progress: Progress | None = None
        ) -> PipelineResult:
    """Train every stage, rank every user, post-process and evaluate."""
    config = config or PipelineConfig()
    say = progress or _quiet
    timing: dict[str, float] = {}
    t = time.perf_counter()
    say("prepare", 0.0, "labelling and splitting")
    prep = prepare_data(dataset, config)
    timing["prepare"] = time.perf_counter() - t
    say("stage1", 0.05, "generating candidates")
    s1 = train_stage1(prep, config)
    timing["stage1"] = s1.seconds
    n_rounds = config.stage2.n_estimators

    def on_round(i: int, logs: dict) -> None:
        say("stage2", 0.1 + 0.4 * min(1.0, (i + 1) / n_rounds), f"XGBoost round {i + 1}")

    s2 = train_stage2(prep, s1, config, progress=on_round)
    timing["stage2"] = s2.seconds
    n_epochs = config.stage3.epochs

    def on_epoch(i: int, logs: dict) -> None:
        say("stage3", 0.5 + 0.4 * min(1.0, (i + 1) / n_epochs),
            f"epoch {i + 1}/{n_epochs}, loss {logs.get('loss', float('nan')):.4f}")

    s3 = train_stage3(prep, s2, config, progress=on_epoch)
    timing["stage3"] = s3.seconds
    t = time.perf_counter()
    post = finalize(prep, s3, config)
    timing["post"] = time.perf_counter() - t
    say("evaluate", 0.92, "evaluating every stage")
    t = time.perf_counter()
    evaluation = evaluate_run(prep, config, s1, s2, s3, post)
    timing["evaluate"] = time.perf_counter() - t
    timing["total"] = float(sum(timing.values()))
    say("done", 1.0, "done")
    return PipelineResult(config, prep, s1, s2, s3, post, evaluation, timing)


def rankings_frame(prep: Prepared, lists: dict[str, RankedLists]) -> pd.DataFrame:
    """Long table of every stage's ranks, sorted by user, stage, rank."""
    users = prep.dataset.users["user_id"].to_numpy()
    items = prep.dataset.content["content_id"].to_numpy()
    frames = [lst.to_frame(users, items, stage) for stage, lst in lists.items()]
    out = pd.concat(frames, ignore_index=True)
    out["stage"] = pd.Categorical(out["stage"], categories=list(STAGES))
    out = out.sort_values(["user_id", "stage", "rank"], kind="stable").reset_index(drop=True)
    out["stage"] = out["stage"].astype(str)
    return out

