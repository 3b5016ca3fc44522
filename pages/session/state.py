"""One browser session's lab: its upload, trained stages, the job running for it, and staleness.

A trained stage remembers the settings it was trained with (its *key*: the dataset, the seed,
label and split settings, and every upstream stage's settings). A stage is *fresh* while the
current settings give the same key, *stale* once any of them changed, *missing* before it was
trained. Changing a downstream setting never makes an upstream stage stale.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ranking import pipeline
from ranking.config import CandidateConfig, GBDTConfig, LabelConfig, NeuralConfig, PipelineConfig, SplitConfig
from ranking.data.dataset import Dataset
from ranking.names import STAGES
from ranking.pipeline import PipelineResult, StageOutput
from ranking.prep.split import Prepared

from . import shared

Status = Literal["missing", "fresh", "stale"]


@dataclass(frozen=True)
class StageKey:
    """What a trained stage depends on: the dataset, seed, split and target, the label settings when
    the stages learn the label (None when they learn each signal), and the settings of the stage and
    of every stage upstream of it (None below it). Two keys are equal when nothing it depends on differs."""

    stage: str
    data_key: str
    seed: int
    labels: LabelConfig | None
    split: SplitConfig
    target: str
    stage1: CandidateConfig | None = None
    stage2: GBDTConfig | None = None
    stage3: NeuralConfig | None = None

    def stage_settings(self) -> dict:
        """The settings of each stage the key covers (``stage1`` … up to its own)."""
        return {s: getattr(self, s) for s in ("stage1", "stage2", "stage3") if getattr(self, s) is not None}


def stage_keys(cfg: PipelineConfig, data_key: str) -> dict[str, StageKey]:
    """What each stage depends on: its own settings plus everything upstream.

    The label settings count only when the stages learn the label (``target="label"``): a value
    model learns each signal, and the weights re-rank its output live (``pipeline.finish``).
    """
    common = {"data_key": data_key, "seed": cfg.seed, "labels": cfg.labels if cfg.target == "label" else None,
              "split": cfg.split, "target": cfg.target}
    out = {"prepare": StageKey("prepare", **common)}
    upstream: dict = {}
    for stage in STAGES:
        upstream[stage] = getattr(cfg, stage)
        out[stage] = StageKey(stage, **common, **upstream)
    return out


@dataclass
class Trained:
    """A trained stage's output and the key of the settings it was trained with."""

    key: StageKey
    output: StageOutput

    @property
    def seconds(self) -> float:
        return self.output.seconds


@dataclass
class LabState:
    """Everything one browser session owns (no widget state: that stays with Streamlit)."""

    upload: Dataset | None = None
    upload_problems: list[str] = field(default_factory=list)
    upload_names: tuple[str, ...] = ()
    stages: dict[str, Trained] = field(default_factory=dict)
    pinned: dict | None = None
    run_id: str | None = None
    run_checked: bool = False
    job: Any = None  # pages.session.jobs.Job while (or after) a training of this session runs
    session_id: str = field(default_factory=lambda: secrets.token_urlsafe(16))  # the browser session owning jobs
    watching: Any = None  # another session's running job, shown read-only (opened through its link)
    interrupted: str | None = None  # a job= link whose training no longer exists on this server
    lock: threading.Lock = field(default_factory=threading.Lock)
    _prep: tuple[tuple, Prepared] | None = None
    _view: tuple[tuple, PipelineResult] | None = None
    _memo: dict = field(default_factory=dict)

    # -- staleness -----------------------------------------------------------------------------
    def status(self, stage: str, cfg: PipelineConfig, data_key: str) -> Status:
        """missing | fresh | stale: stale when any setting the stage depends on changed since training."""
        trained = self.stages.get(stage)
        if trained is None:
            return "missing"
        return "fresh" if trained.key == stage_keys(cfg, data_key)[stage] else "stale"

    def plan(self, target: str, cfg: PipelineConfig, data_key: str) -> list[str]:
        """The stages a click on "train <target>" runs: the first missing or stale one up to it, then on."""
        out: list[str] = []
        for stage in STAGES[: STAGES.index(target) + 1]:
            if out or self.status(stage, cfg, data_key) != "fresh" or stage == target:
                out.append(stage)
        return out

    def fresh_outputs(self, cfg: PipelineConfig, data_key: str) -> dict[str, StageOutput]:
        """Outputs of the stages that are trained and up to date, in order, stopping at the first gap."""
        out: dict[str, StageOutput] = {}
        for stage in STAGES:
            if self.status(stage, cfg, data_key) != "fresh":
                break
            out[stage] = self.stages[stage].output
        return out

    @property
    def running(self) -> bool:
        """True while a training of this session is under way."""
        return self.job is not None and not self.job.done

    # -- derived data, memoised per session (one entry each) -----------------------------------
    def prepared(self, dataset: Dataset, cfg: PipelineConfig, data_key: str) -> Prepared:
        """Labelled and split data for these settings (raises the library's error when untrainable)."""
        key = (stage_keys(cfg, data_key)["prepare"], cfg.labels)  # dataset, seed, split (and label) settings
        if self._prep is None or self._prep[0] != key:
            same_split = self._prep[1] if self._prep is not None and self._prep[0][0] == key[0] else None
            # shared by every session asking for the same (a class): computed once (``shared``)
            prep = shared.PREPARED.get((key, id(dataset) if data_key.startswith("upload:") else None),
                                       lambda: pipeline.prepare_data(dataset, cfg, same_split))
            self._prep = (key, prep)  # a weight move only relabels
        return self._prep[1]

    def view(self, dataset: Dataset, data_key: str, cfg: PipelineConfig) -> PipelineResult | None:
        """Every fresh stage post-processed and evaluated (``pipeline.finish``); None before stage 1."""
        outputs = self.fresh_outputs(cfg, data_key)
        if not outputs:
            return None
        key = (stage_keys(cfg, data_key)[list(outputs)[-1]], cfg.labels, cfg.post, cfg.eval)
        if self._view is None or self._view[0] != key:
            prep = self.prepared(dataset, cfg, data_key)
            # the same trained outputs (a shared training) on the same prepared data: evaluated once for all
            whole = (key, prep, tuple(outputs.values()), cfg)
            self._view = (key, shared.VIEWS.get(whole, lambda: pipeline.finish(prep, cfg, outputs)))
        return self._view[1]

    def memo(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """A derived result kept for this session until its key changes (one entry per key kind)."""
        kind = key[0]
        if self._memo.get(kind, (None,))[0] != key:
            self._memo[kind] = (key, compute())
        return self._memo[kind][1]

    def forget_view(self) -> None:
        """Drop the memoised evaluation (after the trained stages changed)."""
        self._view = None
