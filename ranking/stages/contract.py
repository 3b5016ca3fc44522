"""One contract for every trained stage: fit on prepared data plus the upstream stage's output, then rank.

Where it sits: between the stage models (``candidates``, ``gbdt``, ``neural``) and the one stage
chain in ``ranking.pipeline``. Each stage here adapts its model to the same three calls:

- ``fit(prep, upstream, progress)`` learns from the training split and the stage before it;
- ``rank(prep, upstream)`` returns a :class:`StageOutput`: the fitted model, every user's ranked
  list and, where the stage has them, per-candidate scores and per-signal predictions;
- ``score_pairs(prep, own, upstream, user_pos, item_pos)`` (static: works on a reloaded output)
  scores arbitrary (user, item) pairs, e.g. held-out impressions for AUC and calibration (None
  where a stage has no such score).

A stage that predicts several engagement signals (``PipelineConfig.target="signals"``, the
default for stages 2 and 3) keeps them for *every stage-1 candidate* in
``StageOutput.candidate_signals`` (n_users, K, 5) and exposes them for its own list in
``StageOutput.signals`` (name → array shaped like ``lists.items``). :func:`reweight` re-orders
such stages for other label weights from these arrays alone: no model is called, nothing retrains.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ranking.config import PipelineConfig
from ranking.names import StageName
from ranking.prep.lists import PAD, RankedLists, order_rows
from ranking.prep.split import Prepared
from ranking.stages import value as V

StepProgress = Callable[[float, str, dict], None]  # (fraction of this stage 0..1, message, metric logs)


@dataclass(eq=False)
class StageOutput:
    """What a trained stage hands on: its model, ranked lists, training time and optional extras."""

    name: StageName
    model: object
    lists: RankedLists
    seconds: float
    candidate_scores: np.ndarray | None = None  # score of every upstream candidate (rows = users)
    signals: dict[str, np.ndarray] = field(default_factory=dict)  # per-signal predictions, shaped like lists
    heldout: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (user_pos, item_pos, score), held-out pairs
    candidate_signals: np.ndarray | None = None  # float32 (n_users, K, 5): signals of every stage-1 candidate
    candidates: RankedLists | None = None  # the stage-1 lists ``candidate_signals`` are aligned with
    heldout_signals: np.ndarray | None = None  # float32 (n_pairs, 5): signals of the held-out pairs in ``heldout``

    @property
    def signals_mode(self) -> bool:
        """True when the stage predicts each signal and ranks by their weighted sum."""
        return self.candidate_signals is not None


class Stage(Protocol):
    """The contract every stage of the funnel follows (see the module docstring)."""

    name: StageName

    def fit(self, prep: Prepared, upstream: StageOutput | None, progress: StepProgress | None = None) -> Stage: ...

    def rank(self, prep: Prepared, upstream: StageOutput | None) -> StageOutput: ...

    @staticmethod
    def score_pairs(prep: Prepared, own: StageOutput, upstream: StageOutput | None, user_pos: np.ndarray,
                    item_pos: np.ndarray) -> np.ndarray | None: ...


class CandidateStage:
    """Stage 1: candidate generation over the whole catalog (topic, popularity, CF, hybrid quotas)."""

    name: StageName = "stage1"

    def __init__(self, config: PipelineConfig):
        self.config = config

    def fit(self, prep: Prepared, upstream: StageOutput | None = None,
            progress: StepProgress | None = None) -> CandidateStage:
        from ranking.stages.candidates import CandidateGenerator

        if progress:
            progress(0.0, "Stage 1: fitting popularity and collaborative filtering, generating candidates", {})
        t0 = time.perf_counter()
        self.model_ = CandidateGenerator(self.config.stage1, seed=self.config.seed).fit(prep)
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def rank(self, prep: Prepared, upstream: StageOutput | None = None) -> StageOutput:
        t0 = time.perf_counter()
        lists = self.model_.generate(prep)
        return StageOutput("stage1", self.model_, lists, self.fit_seconds_ + time.perf_counter() - t0)

    @staticmethod
    def score_pairs(prep, own, upstream, user_pos, item_pos) -> None:
        return None  # a blend of sources, not a probability: no AUC or calibration


class GBDTStage:
    """Stage 2: XGBoost scores every candidate on leak-free pair features and keeps the top N."""

    name: StageName = "stage2"

    def __init__(self, config: PipelineConfig):
        self.config = config

    def fit(self, prep: Prepared, upstream: StageOutput | None, progress: StepProgress | None = None) -> GBDTStage:
        from ranking.stages.gbdt import GBDTRanker

        rounds = self.config.stage2.n_estimators

        def on_round(r: int, logs: dict) -> None:
            if progress:
                progress(min(1.0, (r + 1) / rounds), f"Stage 2: XGBoost round {r + 1} of at most {rounds}", logs)

        if progress:
            progress(0.0, "Stage 2: building leak-free features", {})
        t0 = time.perf_counter()
        self.model_ = GBDTRanker(self.config.stage2, seed=self.config.seed, target=self.config.target).fit(
            prep, _need(upstream, "stage1").model, progress=on_round)
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def rank(self, prep: Prepared, upstream: StageOutput | None) -> StageOutput:
        t0 = time.perf_counter()
        cands = _need(upstream, "stage1").lists
        if self.model_.signals_mode:
            cand_signals = self.model_.candidate_outputs(prep, cands)
            out = StageOutput("stage2", self.model_, cands, 0.0, candidate_signals=cand_signals, candidates=cands)
            _rank_signals(prep, out, cands, None, self.config.stage2.top_n)
            out.seconds = self.fit_seconds_ + time.perf_counter() - t0
            return out
        scores = self.model_.score(prep, cands)
        lists = order_rows(cands.items, scores, keep=self.config.stage2.top_n)
        return StageOutput("stage2", self.model_, lists, self.fit_seconds_ + time.perf_counter() - t0,
                           candidate_scores=scores)

    @staticmethod
    def score_pairs(prep, own, upstream, user_pos, item_pos) -> np.ndarray:
        return own.model.pair_outputs(prep, user_pos, item_pos)


class NeuralStage:
    """Stage 3: a Keras network re-ranks stage 2's top N (TensorFlow is imported only here, lazily)."""

    name: StageName = "stage3"

    def __init__(self, config: PipelineConfig):
        self.config = config

    def fit(self, prep: Prepared, upstream: StageOutput | None, progress: StepProgress | None = None
            ) -> NeuralStage:
        from ranking.stages.neural import NeuralReranker

        epochs = self.config.stage3.epochs

        def on_epoch(e: int, logs: dict) -> None:
            if progress:
                progress((e + 1) / epochs, f"Stage 3: epoch {e + 1} of {epochs}", logs)

        if progress:
            progress(0.0, "Stage 3: importing TensorFlow and building the network", {})
        t0 = time.perf_counter()
        table = _need(upstream, "stage2").model.table_
        signals = table.oof_signals is not None
        if signals:
            y, s2 = table.signals, table.oof_signals
        else:
            y, s2 = table.y, (table.oof_score if self.config.stage3.use_stage2_score else None)
        self.model_ = NeuralReranker(self.config.stage3, seed=self.config.seed).fit(
            table.X, y, user_pos=table.user_pos, item_pos=table.item_pos,
            n_users=prep.n_users, n_items=prep.n_items,
            stage2_score=s2 if signals or self.config.stage3.use_stage2_score else None,
            is_valid=table.is_valid, feature_names=list(table.feature_names), progress=on_epoch)
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def rank(self, prep: Prepared, upstream: StageOutput | None) -> StageOutput:
        t0 = time.perf_counter()
        stage2 = _need(upstream, "stage2")
        if stage2.signals_mode:
            # every stage-1 candidate is scored once, so a weight change can re-pick stage 2's top N and
            # re-order it without calling a model (see ``reweight``); the list shows stage 2's N only
            cand_signals = signal_predictions(prep, stage2.model, self.model_, stage2.candidates,
                                              stage2.candidate_signals)
            out = StageOutput("stage3", self.model_, stage2.lists, 0.0, candidate_signals=cand_signals,
                              candidates=stage2.candidates)
            _rank_signals(prep, out, stage2.candidates, stage2.lists, None)
            out.seconds = self.fit_seconds_ + time.perf_counter() - t0
            return out
        lists = rerank(prep, stage2, self.model_)
        return StageOutput("stage3", self.model_, lists, self.fit_seconds_ + time.perf_counter() - t0)

    @staticmethod
    def score_pairs(prep, own, upstream, user_pos, item_pos) -> np.ndarray:
        stage2 = _need(upstream, "stage2")
        X = stage2.model.pair_features(prep, user_pos, item_pos)
        held = stage2.heldout  # stage 2 scored these pairs already when they are the held-out ones
        same = held is not None and np.array_equal(held[0], user_pos) and np.array_equal(held[1], item_pos)
        if stage2.signals_mode:
            s2 = stage2.heldout_signals if same else stage2.model.pair_outputs(prep, user_pos, item_pos)
        else:
            s2 = held[2] if same else stage2.model.score_pairs(prep, user_pos, item_pos)
        return own.model.predict(X, user_pos=user_pos, item_pos=item_pos,
                                 stage2_score=s2 if own.model.uses_stage2_ else None)


def _rank_signals(prep: Prepared, out: StageOutput, cands: RankedLists, keep_from: RankedLists | None,
                  top_n: int | None) -> None:
    """Fill ``out``'s list, scores and signals from its candidate signals under ``prep.labels``.

    Stage 2 (``keep_from`` None) keeps the ``top_n`` best candidates by value; stage 3 orders the
    items of ``keep_from`` (stage 2's list) by its own value.
    """
    value = V.value(prep, out.candidate_signals, cands.items)
    if keep_from is not None:
        kept = np.zeros(cands.items.shape, bool)
        for j in range(keep_from.items.shape[1]):  # N columns, vectorised over users
            kept |= cands.items == keep_from.items[:, j:j + 1]
        value = np.where(kept & (cands.items != PAD), value, np.float32(np.nan))
        top_n = keep_from.items.shape[1]
    out.lists = order_rows(cands.items, value, keep=top_n)
    out.candidate_scores = value
    order = _positions_in(cands.items, out.lists.items)
    sig = np.take_along_axis(out.candidate_signals, np.maximum(order, 0)[..., None], axis=1)
    sig[order < 0] = np.nan
    out.signals = V.as_dict(sig)


def _positions_in(cand_items: np.ndarray, list_items: np.ndarray) -> np.ndarray:
    """For each listed item, its column in the same row of the candidates (−1 for padding)."""
    out = np.full(list_items.shape, -1, np.int64)
    step = max(1, 2**22 // max(1, list_items.shape[1] * cand_items.shape[1]))  # bounded (rows, N, K) blocks
    for lo in range(0, len(list_items), step):
        eq = cand_items[lo:lo + step, None, :] == list_items[lo:lo + step, :, None]
        out[lo:lo + step] = np.where(eq.any(axis=2), eq.argmax(axis=2), -1)
    return np.where(list_items == PAD, -1, out)


def reweight(prep: Prepared, outputs: dict[str, StageOutput]) -> dict[str, StageOutput]:
    """The stages re-ordered for ``prep.labels`` from their candidate signals (no model call, no training).

    Stages without signals (stage 1, label-trained stages) are returned as they are.
    """
    out = dict(outputs)
    s2, s3 = outputs.get("stage2"), outputs.get("stage3")
    if s2 is None or not s2.signals_mode:
        return out
    cands = s2.candidates
    out["stage2"] = new2 = _copy(s2)
    _rank_signals(prep, new2, cands, None, s2.model.config.top_n)
    if s3 is not None and s3.signals_mode:
        out["stage3"] = new3 = _copy(s3)
        _rank_signals(prep, new3, cands, new2.lists, None)
    for name in ("stage2", "stage3"):
        o = out.get(name)
        if o is not None and o.heldout is not None and o.heldout_signals is not None:
            o.heldout = (o.heldout[0], o.heldout[1], V.value(prep, o.heldout_signals, o.heldout[1]))
    return out


def _copy(o: StageOutput) -> StageOutput:
    return dataclasses.replace(o, signals=dict(o.signals))


def signal_predictions(prep: Prepared, ranker, model, lists: RankedLists, stage2_signals: np.ndarray | None = None,
                       users: np.ndarray | None = None) -> np.ndarray:
    """float32 (rows, width, 5) stage-3 signals of every listed item in one batched call (NaN on padding);
    ``stage2_signals`` (same shape) saves recomputing stage 2's, else they are predicted here."""
    X, user_pos, item_pos, mask = ranker.features_for(prep, lists, users=users)
    s2 = stage2_signals[mask] if stage2_signals is not None else ranker.pair_outputs(prep, user_pos, item_pos)
    out = np.full((*lists.items.shape, 5), np.nan, np.float32)
    out[mask] = model.predict(X, user_pos=user_pos, item_pos=item_pos, stage2_score=s2 if model.uses_stage2_ else None)
    return out


def rerank(prep: Prepared, stage2: StageOutput, model, users: np.ndarray | None = None) -> RankedLists:
    """Score stage 2's top N (of ``users``, default all) with the neural model in one batched call; a
    signals model orders them by Σ wᵢ·predictionᵢ under ``prep.labels``."""
    lists = stage2.lists if users is None else RankedLists(stage2.lists.items[users], stage2.lists.scores[users])
    if getattr(model, "signals_", False):
        carried = getattr(lists, "user_pos", None)
        signals = signal_predictions(prep, stage2.model, model, lists, users=users if carried is None else carried)
        return order_rows(lists.items, V.value(prep, signals, lists.items))
    X, user_pos, item_pos, mask = stage2.model.features_for(prep, lists, users=users)
    p = model.predict(X, user_pos=user_pos, item_pos=item_pos, stage2_score=lists.scores[mask])
    scores = np.full(lists.items.shape, np.nan, np.float32)
    scores[mask] = p
    return order_rows(lists.items, scores)


STAGE_CLASSES: dict[str, type] = {"stage1": CandidateStage, "stage2": GBDTStage, "stage3": NeuralStage}
UPSTREAM: dict[str, str | None] = {"stage1": None, "stage2": "stage1", "stage3": "stage2"}


def _need(upstream: StageOutput | None, name: str) -> StageOutput:
    if upstream is None or upstream.name != name:
        got = "nothing" if upstream is None else upstream.name
        raise ValueError(f"this stage needs the output of {name}, got {got}")
    return upstream
