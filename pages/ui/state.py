"""Per-session lab state: the chosen dataset, trained stages and what makes each one stale.

Trained models live in this session's ``st.session_state`` only; the shared caches below
hold immutable datasets keyed by their content (bundled folder or generation spec).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

from ranking.config import PipelineConfig
from ranking.data.dataset import Dataset

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DIR = Path(os.environ.get("LAB_SAMPLE_DIR", ROOT / "data" / "sample"))
STAGE_ORDER = ("stage1", "stage2", "stage3")
STAGE_TITLES = {"stage1": "Stage 1 · candidates", "stage2": "Stage 2 · XGBoost", "stage3": "Stage 3 · neural",
                "final": "Final list"}
# Generated worlds the UI offers stay small enough to train in well under a minute.
MAX_GEN = {"g_users": 20_000, "g_items": 5_000, "g_inter": 400_000}


@dataclass
class Trained:
    """A trained stage and the settings it was trained with (its key)."""

    key: tuple
    result: Any
    seconds: float


@dataclass
class LabState:
    """Everything one browser session owns."""

    upload: Dataset | None = None
    upload_problems: list[str] = field(default_factory=list)
    upload_names: tuple[str, ...] = ()
    stages: dict[str, Trained] = field(default_factory=dict)
    evaluation: Any = None  # View of the last evaluated settings
    evaluation_key: tuple | None = None
    pinned: dict | None = None
    run_id: str | None = None
    run_checked: bool = False
    job: Any = None  # pages.ui.jobs.Job while a training runs
    lock: threading.Lock = field(default_factory=threading.Lock)
    prep_cache: dict = field(default_factory=dict)


def lab() -> LabState:
    """This session's state (created on first use)."""
    if "_lab" not in st.session_state:
        st.session_state["_lab"] = LabState()
    return st.session_state["_lab"]


@st.cache_resource(max_entries=2, show_spinner="Loading the sample world…")
def _sample(path: str, mtime: float) -> Dataset:
    from ranking import data

    return data.load_dataset(path, name="sample world")


@st.cache_resource(max_entries=4, show_spinner="Generating a world…")
def _generated(n_users: int, n_items: int, n_interactions: int, seed: int) -> Dataset:
    from ranking.data import synth

    spec = synth.WorldSpec(n_users=n_users, n_items=n_items, n_interactions=n_interactions, seed=seed)
    return synth.generate(spec).to_dataset()


def generation_spec() -> dict[str, int]:
    """The generate-a-world settings from the URL / widgets (clamped to what the UI allows)."""
    defaults = {"g_users": 1000, "g_items": 300, "g_inter": 20_000, "g_seed": 0}
    out = {}
    for key, d in defaults.items():
        raw = st.session_state.get(key, st.query_params.get(key, d))
        try:
            v = int(float(raw))
        except (TypeError, ValueError):
            v = d
        out[key] = max(0 if key == "g_seed" else 10, min(v, MAX_GEN.get(key, 10**9)))
    return out


SOURCES = {"sample": "Bundled sample world", "world": "Generate a world", "upload": "Upload three CSVs"}


def data_source() -> str:
    """sample | world | upload (the URL may carry the key or, written by the bound radio, its label)."""
    raw = st.session_state.get("data", st.query_params.get("data", "sample"))
    by_label = {label: key for key, label in SOURCES.items()}
    raw = by_label.get(raw, raw)
    return raw if raw in SOURCES else "sample"


def current_dataset() -> tuple[Dataset, str]:
    """The dataset this session works on and a key naming it (part of every stage's key)."""
    source = data_source()
    state = lab()
    if source == "upload" and state.upload is not None:
        return state.upload, f"upload:{state.upload.fingerprint}"
    if source == "world":
        g = generation_spec()
        key = f"world:{g['g_users']}x{g['g_items']}x{g['g_inter']}:seed{g['g_seed']}"
        return _generated(g["g_users"], g["g_items"], g["g_inter"], g["g_seed"]), key
    mtime = max((p.stat().st_mtime for p in SAMPLE_DIR.glob("*")), default=0.0)
    return _sample(str(SAMPLE_DIR), mtime), "sample"


def stage_keys(cfg: PipelineConfig, data_key: str) -> dict[str, tuple]:
    """What each stage depends on: its own settings plus everything upstream."""
    prep = (data_key, cfg.seed, cfg.labels, cfg.split)
    s1 = (prep, cfg.stage1)
    s2 = (s1, cfg.stage2)
    s3 = (s2, cfg.stage3)
    return {"prepare": prep, "stage1": s1, "stage2": s2, "stage3": s3}


def status(stage: str, cfg: PipelineConfig, data_key: str) -> str:
    """missing | fresh | stale: stale when any upstream setting changed since training."""
    trained = lab().stages.get(stage)
    if trained is None:
        return "missing"
    return "fresh" if trained.key == stage_keys(cfg, data_key)[stage] else "stale"


def to_train(target: str, cfg: PipelineConfig, data_key: str) -> list[str]:
    """The stages a click on "train <target>" runs: every missing or stale stage up to it, and it."""
    upto = STAGE_ORDER.index(target)
    out: list[str] = []
    for stage in STAGE_ORDER[: upto + 1]:
        if out or status(stage, cfg, data_key) != "fresh" or stage == target:
            out.append(stage)
    return out


def prepared(dataset: Dataset, cfg: PipelineConfig, data_key: str):
    """Labelled + split data for the current settings (memoised per session: one entry)."""
    from ranking.pipeline import prepare_data

    state = lab()
    key = stage_keys(cfg, data_key)["prepare"]
    if key not in state.prep_cache:
        state.prep_cache.clear()
        state.prep_cache[key] = prepare_data(dataset, cfg)
    return state.prep_cache[key]


def fresh_results(cfg: PipelineConfig, data_key: str) -> dict[str, Any]:
    """Results of the stages that are trained and up to date, in order, stopping at the first gap."""
    out: dict[str, Any] = {}
    for stage in STAGE_ORDER:
        if status(stage, cfg, data_key) != "fresh":
            break
        out[stage] = lab().stages[stage].result
    return out



@dataclass(eq=False)
class View:
    """What the pages show: prepared data, fresh stage results, the final list and the metrics."""

    prep: Any
    results: dict[str, Any]
    post: Any  # PostResult once stage 3 is fresh, else None
    evaluation: dict


def view(dataset: Dataset, data_key: str, cfg: PipelineConfig) -> View | None:
    """The evaluated state of every fresh stage (memoised per session by settings); None if none is."""
    from ranking import pipeline as P

    res = fresh_results(cfg, data_key)
    if not res:
        return None
    state = lab()
    key = (stage_keys(cfg, data_key)[list(res)[-1]], cfg.post, cfg.eval)
    if state.evaluation_key != key or state.evaluation is None:
        prep = prepared(dataset, cfg, data_key)
        post = P.finalize(prep, res["stage3"], cfg) if "stage3" in res else None
        ev = P.evaluate_run(prep, cfg, res["stage1"], res.get("stage2"), res.get("stage3"), post)
        state.evaluation = View(prep, res, post, ev)
        state.evaluation_key = key
    return state.evaluation


def evaluation(dataset: Dataset, data_key: str, cfg: PipelineConfig) -> dict | None:
    """Just the metrics dict of ``view``."""
    v = view(dataset, data_key, cfg)
    return None if v is None else v.evaluation
