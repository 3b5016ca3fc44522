"""What every page shares: header, dataset line, stale badges, train buttons, live progress, links."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlencode

import numpy as np
import streamlit as st

from ranking.config import PipelineConfig
from ranking.data.dataset import Dataset
from ranking.errors import RankingError

from . import jobs, runs
from . import settings as W
from . import state as S

BADGE = {"fresh": ("trained", "green", ":material/check_circle:"),
         "stale": ("stale", "orange", ":material/warning:"),
         "missing": ("not trained", "gray", ":material/radio_button_unchecked:")}


def page(title: str, intro: str, curves: Callable[[dict], object] | None = None
         ) -> tuple[Dataset, str, PipelineConfig] | None:
    """Page setup: title, what this page does, training progress, the dataset and the current settings.

    The progress panel always sits in one container right under the intro, so its self-refreshing
    fragment keeps the same place in the page on every run and every page (a fragment whose place
    moved between a full rerun and its next tick made the browser drop the update).
    Returns None (after saying why) when the dataset cannot be loaded.
    """
    st.set_page_config(page_title=f"{title} · Multistage Ranking Lab", page_icon="📰", layout="wide")
    st.title(title)
    st.markdown(intro)
    W.adopt_url()
    _sync_run()
    sync_url()
    with st.container():
        job_panel(curves)
    try:
        dataset, data_key = S.current_dataset()
    except RankingError as exc:
        st.error("The dataset could not be loaded:")
        st.text(str(exc))
        return None
    cfg = W.current_config()
    with st.sidebar:
        st.caption(f"**Data:** {dataset.name} — {dataset.n_users:,} users · {dataset.n_items:,} items · "
                   f"{len(dataset.interactions):,} interactions"
                   + (" · ground truth ✓" if dataset.truth is not None else ""))
        stage_badges(cfg, data_key)
        lesson_link(cfg)
    return dataset, data_key, cfg


def md_escape(text: object) -> str:
    """Data-derived text made inert for st.markdown/caption: markdown syntax and tags show literally."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~:$])", r"\\\1", str(text))


def _sync_run() -> None:
    """Restore a run named in the URL once per session; save finished trainings; keep ?run= current."""
    lab = S.lab()
    if not lab.run_checked:
        lab.run_checked = True
        wanted = st.query_params.get("run")
        if wanted and not lab.stages:
            problem = runs.restore(lab, wanted)
            if problem:
                st.warning(problem)
            else:
                st.toast("Restored the trained stages from the link — no retraining needed.",
                         icon=":material/history:")
    job = lab.job
    if job is not None and job.done and not job.error and not job.saved:
        job.saved = True
        try:
            lab.run_id = runs.save(lab, S.current_dataset()[1], S.data_source(), S.generation_spec())
        except OSError as exc:  # a full or read-only disk must not cost the demo
            st.caption(f"(could not save this run for links: {exc})")


def url_params() -> dict[str, str]:
    """The current view as URL parameters: settings that differ from the defaults, dataset, user, run."""
    params: dict[str, str] = {}
    for s in W.SETTINGS:
        v = W.value(s.key)
        if v != s.default:
            params[s.key] = str(v)
    src = S.data_source()
    if src != "sample":
        params["data"] = src
    if src == "world":
        params.update({k: str(v) for k, v in S.generation_spec().items()})
    user = st.session_state.get("user", st.query_params.get("user"))
    if user not in (None, ""):
        params["user"] = str(user)
    if S.lab().run_id:
        params["run"] = S.lab().run_id
    return params


def sync_url() -> None:
    """Keep the address bar a lesson link on every page (widget changes are in session state by now)."""
    params = url_params()
    if params != st.query_params.to_dict():
        st.query_params.from_dict(params)


def stage_badges(cfg: PipelineConfig, data_key: str, container=None) -> None:
    """A badge per stage: trained, stale (with why) or not trained."""
    where = container or st
    for stage in S.STAGE_ORDER:
        text, color, icon = BADGE[S.status(stage, cfg, data_key)]
        where.badge(f"{S.STAGE_TITLES[stage]}: {text}", color=color, icon=icon)


def train_button(target: str, dataset: Dataset, data_key: str, cfg: PipelineConfig, label: str | None = None,
                 blocker: str | None = None, key: str | None = None) -> None:
    """A button that trains `target` (and any missing or stale stage before it) in the background."""
    lab = S.lab()
    plan = S.to_train(target, cfg, data_key)
    running = lab.job is not None and lab.job.running
    status = S.status(target, cfg, data_key)
    text = label or (f"Retrain {S.STAGE_TITLES[target]}" if status != "missing" else f"Train {S.STAGE_TITLES[target]}")
    if len(plan) > 1 and label is None:
        text += f" (+ {', '.join(S.STAGE_TITLES[s].split(' · ')[0] for s in plan[:-1])})"
    help_text = blocker or ("A training is already running." if running else
                            "Trains: " + " → ".join(S.STAGE_TITLES[s] for s in plan))
    clicked = st.button(text, key=key or f"train_{target}", type="primary", disabled=bool(blocker) or running,
                        help=help_text, icon=":material/play_arrow:")
    if blocker:
        st.caption(f":material/block: {blocker}")
    if clicked:
        _start(lab, plan, dataset, data_key, cfg)


def _start(lab: S.LabState, plan: list[str], dataset: Dataset, data_key: str, cfg: PipelineConfig) -> None:
    """Start a training and rerun so the progress panel shows; a library error is shown instead."""
    try:
        jobs.start(lab, plan, dataset, data_key, cfg)
    except RankingError as exc:
        st.error(str(exc))
        return
    st.rerun()


def job_panel(curve_chart: Callable[[dict], object] | None = None) -> None:
    """Live progress of this session's training; reruns the page when it ends."""
    lab = S.lab()
    job = lab.job
    if job is None:
        return
    if job.done:
        if job.error:
            st.error(f"Training stopped: {job.error}")
        elif not job.announced:
            st.success(f"Trained {', '.join(S.STAGE_TITLES[s] for s in job.stages)} in {job.seconds:.1f} s.")
            job.announced = True
        return

    @st.fragment(run_every=1.0)
    def _poll() -> None:
        j = S.lab().job
        if j is None or j.done:
            st.rerun()
        with st.container():  # one element, whatever is drawn inside
            st.progress(j.fraction, text=j.message)
            if curve_chart is not None and j.curves:
                st.plotly_chart(curve_chart(dict(j.curves)), key="live_curve")

    _poll()


def training_blocker(dataset: Dataset, cfg: PipelineConfig, data_key: str) -> str | None:
    """Why training cannot start with these settings (None when it can)."""
    try:
        prep = S.prepared(dataset, cfg, data_key)
    except RankingError as exc:
        return str(exc)
    if prep.n_eval_users < 2:
        return (f"Only {prep.n_eval_users} user(s) have at least {cfg.split.min_history} interactions, "
                "so nothing can be held out for evaluation. Use a larger world.")
    return None


def lesson_link(cfg: PipelineConfig) -> None:
    """The current view as a link: settings that differ from the defaults, dataset, user, run."""
    params = url_params()
    try:
        base = st.context.url or ""
    except Exception:  # outside a browser session (tests)
        base = ""
    link = base + ("?" + urlencode(params) if params else "")
    with st.popover("Copy lesson link", icon=":material/link:"):
        st.caption("Opening this link reproduces the settings, dataset and chosen user.")
        st.code(link or "(default settings)", language=None)


def trained(stage: str):
    """The result object of a trained stage, or None."""
    t = S.lab().stages.get(stage)
    return None if t is None else t.result


def user_picker(dataset: Dataset, shortcuts: dict[str, int] | None = None, key: str = "user") -> int:
    """Choose a user by id (searchable, kept in the URL), with optional shortcut buttons; returns the position."""
    ids = dataset.users["user_id"].to_numpy()
    if shortcuts:
        cols = st.columns(len(shortcuts))
        for col, (name, pos) in zip(cols, shortcuts.items(), strict=True):
            col.button(f"{name}: user {ids[pos]}", key=f"{key}_{name}", on_click=_set_user,
                       args=(key, int(ids[pos])), use_container_width=True)
    raw = st.session_state.get(key, st.query_params.get(key))
    try:
        current = int(raw)
    except (TypeError, ValueError):
        current = int(ids[0])
    if current not in set(ids.tolist()):
        current = int(ids[0])
    st.session_state[key] = current
    chosen = st.selectbox("User", options=ids.tolist(), key=key, persist_state="session",
                          help="Type to search by user id.")
    return int(np.flatnonzero(ids == chosen)[0])


def _set_user(key: str, user_id: int) -> None:
    st.session_state[key] = user_id


def train_form(target: str, keys: tuple[str, ...], dataset: Dataset, data_key: str, columns: int = 3) -> None:
    """A form of a stage's settings whose submit button trains the stage (nothing trains on a mere rerun)."""
    lab = S.lab()
    running = lab.job is not None and lab.job.running
    cfg_now = W.current_config()
    blocker = training_blocker(dataset, cfg_now, data_key)
    status = S.status(target, cfg_now, data_key)
    verb = "Train" if status == "missing" else "Retrain"
    with st.form(f"form_{target}", border=True):
        cols = st.columns(columns)
        for i, key in enumerate(keys):
            W.widget(key, cols[i % columns])
        submitted = st.form_submit_button(f"{verb} {S.STAGE_TITLES[target]}", type="primary",
                                          disabled=bool(blocker) or running, icon=":material/play_arrow:")
    if blocker:
        st.caption(f":material/block: {blocker}")
    elif running:
        st.caption("A training is already running in this session.")
    if submitted:
        cfg = W.current_config()
        _start(lab, S.to_train(target, cfg, data_key), dataset, data_key, cfg)
