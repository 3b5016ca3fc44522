"""The one stage chain: label + split → stage 1 → stage 2 → stage 3 → post-processing → evaluation.

Where it sits: the top of the library. The CLI (``run``), the app's background jobs (``train`` one
or more stages, then ``finish``), saved-run reloading (``load_run``) and the benchmark all call
this module; none of them orders the stages itself. Every stage follows the contract of
``ranking.stages.contract``: fit on prepared data plus the upstream stage's output, then rank.
Nothing here reads or writes files except through ``ranking.data.store`` (``save_run``/``load_run``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ranking.config import PipelineConfig
from ranking.data import schema as S
from ranking.data import store
from ranking.data.dataset import Dataset
from ranking.errors import DataError, TrainingError
from ranking.evaluation import evaluate as E
from ranking.evaluation.pairs import PAIR_STAGES, score_positions, stage_signals
from ranking.evaluation.result import RunEvaluation
from ranking.names import LISTS, SHORT, STAGES, StageName
from ranking.prep.lists import RankedLists
from ranking.prep.split import ITEM_POS, USER_POS, Prepared, prepare, relabel
from ranking.stages import value as V
from ranking.stages.contract import STAGE_CLASSES, UPSTREAM, StageOutput, rerank, reweight
from ranking.stages.postprocess import PostResult, postprocess

Progress = Callable[[str, float, str, dict], None]  # (stage, fraction of that stage 0..1, message, logs)
__all__ = ["LISTS", "STAGES", "PipelineResult", "StageOutput", "finish", "load_run", "prepare_data", "rankings_frame",
           "rerank", "reweight", "run", "save_run", "train", "training_view"]


@dataclass(eq=False)
class PipelineResult:
    """What a run produced: the prepared data, each trained stage's output, the final list and metrics.

    Stages are optional from the right: the app evaluates stage 1 alone, or stages 1–2, as soon as
    they are trained; ``post`` exists once stage 3 does.
    """

    config: PipelineConfig
    prep: Prepared
    outputs: dict[str, StageOutput]
    post: PostResult | None
    evaluation: RunEvaluation
    timing_s: dict[str, float] = field(default_factory=dict)

    @property
    def stage1(self) -> StageOutput:
        return self.outputs["stage1"]

    @property
    def stage2(self) -> StageOutput | None:
        return self.outputs.get("stage2")

    @property
    def stage3(self) -> StageOutput | None:
        return self.outputs.get("stage3")

    def lists(self) -> dict[str, RankedLists]:
        """The ranked lists of every stage that exists, keyed by list name, in funnel order."""
        out = {name: o.lists for name, o in self.outputs.items()}
        if self.post is not None:
            out["final"] = self.post.lists
        return out

    def rankings_frame(self) -> pd.DataFrame:
        """Long table user_id, content_id, stage, rank, score for every list (deterministic order)."""
        return rankings_frame(self.prep, self.lists())


def warm_up() -> None:
    """Run every stage once on a tiny generated world, then drop it: XGBoost's and TensorFlow's one-time
    start-up costs (thread pools, first traces, ~1 s) are paid here, at a worker's start, not on the
    first click. A worker process calls this before its first job."""
    from ranking.data import synth
    from ranking.stages import neural

    dataset = synth.generate(synth.WorldSpec(n_users=80, n_items=40, n_interactions=2400, seed=0)).to_dataset()
    config = PipelineConfig()
    train(prepare_data(dataset, config), config)
    neural.reset()


def prepare_data(dataset: Dataset, config: PipelineConfig, same_split: Prepared | None = None) -> Prepared:
    """Label and split the interactions; fails early with a clear message if training is impossible.

    ``same_split``: data prepared from this dataset with the same split and seed (only the label settings
    differ), relabelled instead of prepared again (``ranking.prep.split.relabel``)."""
    prep = (relabel(same_split, config.labels) if same_split is not None else
            prepare(dataset, config.labels, config.split, config.seed))
    train_rows = prep.train
    if len(train_rows) == 0:
        raise TrainingError("there are no training interactions")
    if config.target == "signals":
        n_click = int((pd.to_numeric(train_rows[S.CLICK], errors="coerce").fillna(0) > 0).sum())
        if n_click in (0, len(train_rows)):
            kind = "no" if n_click == 0 else "every"
            raise TrainingError(f"{kind} training interaction is a click: the models need both clicks and "
                                "non-clicks to learn from")
        return prep
    n_pos = int(train_rows["label"].sum())
    if n_pos == 0:
        raise TrainingError(
            f"no training interaction is positive at threshold {config.labels.threshold:g}: "
            "lower the threshold or raise a weight")
    if n_pos == len(train_rows):
        raise TrainingError(
            f"every training interaction is positive at threshold {config.labels.threshold:g}: "
            "raise the threshold so the models see both classes")
    return prep


def train(prep: Prepared, config: PipelineConfig, stages: Iterable[StageName] = STAGES,
          trained: Mapping[str, StageOutput] | None = None, progress: Progress | None = None
          ) -> dict[str, StageOutput]:
    """Train ``stages`` in funnel order, each on the output of the stage before it.

    An upstream stage that is not retrained is taken from ``trained``; the result holds every
    stage up to the last one trained (retrained ones replaced), in funnel order.
    """
    prep = training_view(prep, config)
    wanted = set(stages)
    if unknown := wanted - set(STAGES):
        raise ValueError(f"unknown stage(s) {sorted(unknown)}; valid: {', '.join(STAGES)}")
    last = max(STAGES.index(s) for s in wanted) if wanted else -1
    outputs: dict[str, StageOutput] = {}
    for name in STAGES[: last + 1]:
        if name not in wanted:
            if trained is None or name not in trained:
                raise TrainingError(f"{name} must be trained before the stages after it")
            outputs[name] = trained[name]
            continue
        up = UPSTREAM[name]
        upstream = outputs[up] if up else None

        def step(fraction: float, message: str, logs: dict, _name: str = name) -> None:
            if progress is not None:
                progress(_name, fraction, message, logs)

        stage = STAGE_CLASSES[name](config).fit(prep, upstream, step)
        step(1.0, f"{SHORT[name]}: ranking every user's candidates", {})
        output = stage.rank(prep, upstream)
        step(1.0, f"{SHORT[name]}: scoring the held-out interactions", {})
        output.heldout = _heldout_scores(prep, name, output, upstream)
        outputs[name] = output
    return outputs


def training_view(prep: Prepared, config: PipelineConfig) -> Prepared:
    """What the stages learn from. Label mode: ``prep`` itself. Signals mode: the same rows with the
    label column replaced by "clicked", so nothing trained depends on the label weights or threshold
    (stage 1's positives, the count features); the value heads learn the signals themselves."""
    if config.target != "signals":
        return prep
    inter = prep.interactions.copy()
    inter[S.LABEL] = (pd.to_numeric(inter[S.CLICK], errors="coerce").fillna(0) > 0).astype(inter[S.LABEL].dtype)
    return dataclasses.replace(prep, interactions=inter)


def _heldout_scores(prep: Prepared, name: str, output: StageOutput, upstream: StageOutput | None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The stage's scores of the held-out pairs (for AUC and calibration), computed where it was trained;
    a signal stage also keeps the pairs' signals (``output.heldout_signals``) so new weights re-score them."""
    tu, ti = prep.test[USER_POS].to_numpy(), prep.test[ITEM_POS].to_numpy()
    scores, signals = _score_pairs(prep, name, output, upstream, tu, ti)
    output.heldout_signals = signals
    return None if scores is None else (tu, ti, scores)


def _score_pairs(prep: Prepared, name: str, output: StageOutput, upstream: StageOutput | None, tu: np.ndarray,
                 ti: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(score, signals) of (user, item) pairs: a signal stage's value under ``prep.labels`` and its (n, 5)
    signals; a label stage's score and None; (None, None) where the stage has no pair score or no pairs."""
    if not len(tu):
        return None, None
    scores = STAGE_CLASSES[name].score_pairs(prep, output, upstream, tu, ti)
    if scores is None or np.ndim(scores) == 1:
        return scores, None
    return V.value(prep, np.asarray(scores), ti), np.asarray(scores)


def finish(prep: Prepared, config: PipelineConfig, outputs: Mapping[str, StageOutput],
           timing_s: Mapping[str, float] | None = None, progress: Progress | None = None) -> PipelineResult:
    """Post-process stage 3's lists (when it exists) and evaluate every list; no training."""
    say = progress or (lambda stage, fraction, message, logs: None)
    outs = {name: outputs[name] for name in STAGES if name in outputs}
    if "stage1" not in outs:
        raise TrainingError("stage 1 must be trained before anything can be evaluated")
    timing = dict(timing_s or {})
    t = time.perf_counter()
    outs = reweight(prep, outs)  # signal stages order by the current weights (no model call)
    timing["reweight"] = time.perf_counter() - t
    t = time.perf_counter()
    say("evaluate", 0.05, "post-processing the final feed", {})
    post = postprocess(prep, outs["stage3"].lists, config.post) if "stage3" in outs else None
    timing["post"] = time.perf_counter() - t
    t = time.perf_counter()
    say("evaluate", 0.1, "evaluating every list and baseline", {})
    evaluation = _evaluate(prep, config, outs, post)
    timing["evaluate"] = time.perf_counter() - t
    return PipelineResult(config, prep, outs, post, evaluation, timing)


def run(dataset: Dataset, config: PipelineConfig | None = None, progress: Progress | None = None) -> PipelineResult:
    """Train every stage, rank every user, post-process and evaluate."""
    config = config or PipelineConfig()
    say = progress or (lambda stage, fraction, message, logs: None)
    t = time.perf_counter()
    say("prepare", 0.0, "labelling and splitting", {})
    prep = prepare_data(dataset, config)
    timing = {"prepare": time.perf_counter() - t}
    outputs = train(prep, config, STAGES, progress=say)
    timing.update({name: o.seconds for name, o in outputs.items()})
    say("evaluate", 0.0, "re-ranking for the label weights", {})
    result = finish(prep, config, outputs, timing, progress=say)
    result.timing_s["total"] = float(sum(result.timing_s.values()))
    say("done", 1.0, "done", {})
    return result


def save_run(folder: str | Path, result: PipelineResult, data_dir: str | Path | None = None) -> Path:
    """Write rankings.csv, metrics.json, config.json and the fitted stage outputs (see ranking.data.store);
    ``data_dir`` (the data folder, when there is one) is recorded so ``rerank`` can find the data again."""
    return store.write_run(folder, rankings=result.rankings_frame(),
                           metrics=store.metrics_document(result.evaluation, result.timing_s, result.config),
                           config=result.config.to_dict(), outputs=result.outputs,
                           dataset=result.prep.dataset, timing_s=result.timing_s, data_dir=data_dir)


def load_run(folder: str | Path, dataset: Dataset, labels: Mapping[str, float] | None = None) -> PipelineResult:
    """A saved run, re-evaluated on the dataset it was trained on, without training anything.

    ``labels`` overrides label settings (e.g. ``{"w_share": 3.0}``): stages that predict each
    signal re-rank for them; a label-trained run refuses, since its models learnt the old label.
    """
    return _from_saved(folder, *store.read_run(folder), dataset, labels)


def _from_saved(folder: str | Path, raw_config: dict, payload: dict, dataset: Dataset,
                labels: Mapping[str, float] | None) -> PipelineResult:
    config = PipelineConfig.from_dict(raw_config)
    if payload["dataset"]["fingerprint"] != dataset.fingerprint:
        raise DataError(f"{folder}: this run was trained on other data ({payload['dataset']['name']})")
    if labels:
        if config.target != "signals":
            raise TrainingError(f"{folder}: this run's stages learnt the thresholded label (target 'label'), so "
                                "new weights need a retrain; runs with target 'signals' re-rank without one")
        config = dataclasses.replace(config, labels=dataclasses.replace(config.labels, **labels))
    return finish(prepare_data(dataset, config), config, payload["outputs"], payload["timing_s"])


def reweight_run(folder: str | Path, dataset: Dataset | None, labels: Mapping[str, float]) -> PipelineResult:
    """``load_run`` with new label weights; without ``dataset``, the data folder the run recorded is loaded."""
    raw_config, payload = store.read_run(folder)  # read once: the stage outputs are unpickled here
    if dataset is None:
        from ranking.data.io import load_dataset

        where = payload["dataset"].get("folder")
        if not where:
            raise DataError(f"{folder}: the run does not record its data folder; pass --data")
        dataset = load_dataset(where)
    return _from_saved(folder, raw_config, payload, dataset, labels)


def _evaluate(prep: Prepared, config: PipelineConfig, outs: Mapping[str, StageOutput],
              post: PostResult | None) -> RunEvaluation:
    test = prep.test
    tu, ti = test[USER_POS].to_numpy(), test[ITEM_POS].to_numpy()
    # every stage that scores pairs scores the held-out rows once (the public ranking.score_pairs path), for AUC,
    # calibration and the per-impression metrics
    staged = score_positions(prep, outs, tu, ti, [n for n in PAIR_STAGES if n in outs], seed=config.seed)
    pair_scores: dict[str, tuple | None] = {name: None for name in outs}
    pair_scores.update({name: (tu, ti, v) for name, (v, _) in staged.items()})

    def impression_scores(names: list[str]) -> dict[str, np.ndarray]:
        rest = [n for n in names if n not in staged]
        more = score_positions(prep, outs, tu, ti, rest, seed=config.seed) if rest else {}
        return {n: (staged.get(n) or more[n])[0] for n in names if n in staged or n in more}

    lists = {name: o.lists for name, o in outs.items()}
    if post is not None:
        lists["final"] = post.lists
    stage2 = outs.get("stage2")
    reward = None
    if stage2 is not None and stage2.signals_mode:  # DR's reward model: stage 2's predicted value of any pair
        def reward(u: np.ndarray, i: np.ndarray) -> np.ndarray:
            return V.value(prep, stage_signals(prep, outs, "stage2", u, i), i)
    return E.evaluate_pipeline(prep, lists, k=config.eval.k, cand_config=config.stage1, pair_scores=pair_scores,
                               seed=config.seed, outs=outs, impression_scores=impression_scores,
                               reward_pairs=reward)


def rankings_frame(prep: Prepared, lists: Mapping[str, RankedLists]) -> pd.DataFrame:
    """Long table of every list's ranks, sorted by user, list (funnel order), rank."""
    users = prep.dataset.users[S.USER_ID].to_numpy()
    items = prep.dataset.content[S.CONTENT_ID].to_numpy()
    out = pd.concat([lst.to_frame(users, items, name) for name, lst in lists.items()], ignore_index=True)
    out["stage"] = pd.Categorical(out["stage"], categories=list(LISTS))
    out = out.sort_values([S.USER_ID, "stage", "rank"], kind="stable").reset_index(drop=True)
    out["stage"] = out["stage"].astype(str)
    return out
