"""What every page shares: header, dataset line, stale badges, train buttons, live progress, links.

The session itself (its data, trained stages, jobs and saved runs) is ``pages.session``; this
module only draws it and turns clicks into calls.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import numpy as np
import streamlit as st

from pages.session import demo, estimate, jobs, runs
from pages.session.datasets import DataChoice
from pages.session.state import LabState, Status
from ranking.config import PipelineConfig, default_labels
from ranking.data.dataset import Dataset
from ranking.data.schema import OUTCOMES
from ranking.errors import RankingError
from ranking.names import STAGES, TITLES
from ranking.pipeline import PipelineResult

from . import changes, compare, links, present, startup, tour, worlds
from . import settings as W

BADGE = {"fresh": ("trained", "green", ":material/check_circle:"),
         "stale": ("stale", "orange", ":material/warning:"),
         "missing": ("not trained", "gray", ":material/radio_button_unchecked:")}


def lab() -> LabState:
    """This browser session's lab (created on first use)."""
    if "_lab" not in st.session_state:
        st.session_state["_lab"] = LabState(**({"session_id": sid} if (sid := _session_id()) else {}))
    return st.session_state["_lab"]


def _session_id() -> str | None:
    """Streamlit's id of this browser session (None outside a script run)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    return None if ctx is None else ctx.session_id


def session_active(session_id: str) -> bool:
    """Is this browser session still connected? (Under AppTest there is no server: every session counts
    as connected, so nobody takes over another's job.)"""
    from streamlit import runtime

    if not runtime.exists():
        return True
    return runtime.get_instance().is_active_session(session_id)


def data_choice() -> DataChoice:
    """The dataset this session asked for: widget state, else the URL (a lesson link), else the sample."""
    get = lambda key, default=None: st.session_state.get(key, st.query_params.get(key, default))  # noqa: E731
    source = st.session_state.get("data", st.session_state.get("_data", st.query_params.get("data", "sample")))
    return DataChoice.parse(source, {k: get(k) for k in ("g_users", "g_items", "g_inter", "g_seed")
                                     if get(k) is not None})


@dataclass(eq=False)
class Ctx:
    """What a page works with: the dataset and its key, the current settings and this session's lab."""

    dataset: Dataset
    data_key: str
    cfg: PipelineConfig
    lab: LabState
    choice: DataChoice
    shown: PipelineConfig | None = None  # while settings changed since training: the trained ones (greyed)

    def view(self) -> PipelineResult | None:
        """Every fresh stage post-processed and evaluated (memoised per session); None before stage 1.

        After a setting that needs a retrain changed, the last results (at the settings they were
        trained with) instead of nothing: the page shows them greyed under the stale banner.
        """
        return self.lab.view(self.dataset, self.data_key, self.shown or self.cfg)

    def status(self, stage: str) -> Status:
        return self.lab.status(stage, self.cfg, self.data_key)

    def refresh(self) -> Ctx:
        """The same context with the settings as the widgets drawn so far describe them."""
        return Ctx(self.dataset, self.data_key, W.current_config(), self.lab, self.choice)


def page(title: str, intro: str, curves: Callable[[dict], object] | None = None) -> Ctx | None:
    """Page setup: title, what this page does, training progress, the dataset and the current settings.

    The progress panel always sits in one container right under the intro, so its self-refreshing
    fragment keeps the same place in the page on every run and every page (a fragment whose place
    moved between a full rerun and its next tick made the browser drop the update).
    Returns None (after saying why) when the dataset cannot be loaded.
    """
    st.set_page_config(page_title=f"{title} · Multistage Ranking Lab", page_icon="📰", layout="wide")
    startup.kick_off()  # once per server: the sample world trains in the background (pages.session.demo)
    links.adopt()
    present.adopt()  # before a lesson link's page switch, which drops the query parameters
    tour.adopt()
    tour.go()
    head, switch = st.columns([4, 1], vertical_alignment="center")
    head.title(title)
    present.toggle(switch)
    tour.panel()
    present.intro(intro)
    links.show_problems()
    _adopt_links()
    with st.container():
        job_panel(curves)
    state, choice = lab(), data_choice()
    try:
        loaded = worlds.dataset(state, choice)
    except RankingError as exc:
        st.error("The dataset could not be loaded:")
        st.text(str(exc))
        return None
    if loaded is None:
        return None
    dataset, data_key = loaded
    links.check_user(dataset)
    _default_labels_for(dataset, data_key)
    if demo.adopt(state, data_key):
        # a caption, not a toast: a toast covered the top right of the page (the Feed's right column heading)
        st.caption(":material/check_circle: The sample world opens already trained: the server trained it in the "
                   "background when it started, and every session picks up that result.")
    ctx = Ctx(dataset, data_key, W.current_config(), state, choice)
    runs.shown(state.run_id)  # a run a page shows is never pruned
    if choice.source == "upload" and state.upload is None:
        st.info("This link asks for an uploaded dataset, which this session does not have (uploads are "
                "kept only with a trained run's link): the lab shows the bundled sample world until you "
                "upload the files again on the home page.")
    sync_url(ctx)
    if st.session_state.pop("_retrain_now", False):
        _start(ctx, state.plan(STAGES[-1], ctx.cfg, ctx.data_key))
    ctx.shown = changes.banner(ctx, _start)
    with st.sidebar:
        st.caption(f"**Data:** {md_escape(dataset.name)} — {dataset.n_users:,} users · {dataset.n_items:,} items · "
                   f"{len(dataset.interactions):,} interactions"
                   + (" · ground truth ✓" if dataset.truth is not None else ""))
        stage_badges(ctx)
        lesson_link(ctx)
        tour.start_button()
    return ctx


def _default_labels_for(dataset: Dataset, data_key: str) -> None:
    """A log that records only some signals (MIND: clicks) starts from the label that can use them, once per
    dataset, unless the label settings were already changed (the Labels page says why)."""
    if dataset.recorded == OUTCOMES or st.session_state.get("_labels_for") == data_key:
        return
    st.session_state["_labels_for"] = data_key
    if all(W.value(k) == W.BY_KEY[k].default for k in W.SECTION_KEYS["labels"]):
        W.set_values(W.label_values(default_labels(dataset.recorded)))


def md_escape(text: object) -> str:
    """Data-derived text made inert for st.markdown/caption: markdown syntax and tags show literally."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~:$])", r"\\\1", str(text))


def _adopt_links() -> None:
    """Once per session: restore the run named in the URL, with its dataset, and reattach a running job.

    A refresh or an opened lesson link is a new session: the run brings back the trained stages and
    the dataset they were trained on (generated worlds by their spec, uploads from the run's copy);
    ``job=`` reattaches the training this tab started before F5.
    """
    state = lab()
    if state.run_checked:
        return
    state.run_checked = True
    wanted = st.query_params.get("run")
    if wanted and not state.stages:
        problem, meta = runs.restore(state, wanted)
        if problem:
            st.warning(problem)
        else:
            source = meta.get("source", "sample")
            st.session_state["_data"] = source
            st.session_state.pop("data", None)  # the run's dataset wins over a radio choice of this new session
            for key, value in meta.get("generation", {}).items():
                if source == "world":
                    st.session_state[key] = value
            st.toast("Restored the trained stages and their dataset from the link — no retraining needed.",
                     icon=":material/history:")
    wanted_job = st.query_params.get("job")
    if wanted_job and state.job is None:
        job = jobs.find(wanted_job)
        if job is None:
            state.interrupted = ("The training this link was following is no longer on the server (the server "
                                 "restarted, or it ended long ago), so it was interrupted.")
            return
        role = jobs.attach(state, job, session_active)
        job.seen()
        if role in ("own", "took over") and job.running:
            st.toast("Still training: reattached to the job this page started.", icon=":material/sync:")


def url_params(ctx: Ctx, link: bool = False) -> dict[str, str]:
    """The current view as URL parameters: settings that differ from the defaults, dataset, user, run; and,
    in the address bar but never in a lesson link (``link``), this session's running training (``job=``)."""
    params: dict[str, str] = {}
    for s in W.SETTINGS:
        v = W.value(s.key)
        if v != s.default:
            params[s.key] = str(v)
    if ctx.choice.source != "sample":
        params["data"] = ctx.choice.source
    if ctx.choice.source == "world":
        params.update({k: str(v) for k, v in ctx.choice.generation().items()})
    user = st.session_state.get("user", st.query_params.get("user"))
    if user not in (None, ""):
        params["user"] = str(user)
    if present.on():
        params[present.KEY] = "1"
    if ctx.lab.run_id:
        params["run"] = ctx.lab.run_id
    if tour.current() is not None:
        params["tour"] = str(tour.current())
    if compare.pinned_id():
        params["pin"] = compare.pinned_id()
    if ctx.lab.running and not link:
        params["job"] = ctx.lab.job.id  # F5 during training reattaches to it (jobs.attach)
    return params


def sync_url(ctx: Ctx) -> None:
    """Keep the address bar a lesson link on every page.

    Written by hand rather than with the widgets' ``bind="query-params"``: a bound parameter lives in
    the URL only while its widget is drawn, so switching to a page that does not draw it drops it from
    the address bar, and F5 there loses the setting (checked with Streamlit 1.67 in a browser). A lesson
    link must carry every setting on every page, and the dataset, the user and the run besides.
    """
    params = url_params(ctx)
    if params != st.query_params.to_dict():
        st.query_params.from_dict(params)


def stage_badges(ctx: Ctx, container=None) -> None:
    """A badge per stage: trained, stale (with why) or not trained."""
    where = container or st
    for stage in STAGES:
        status = ctx.status(stage)
        trained = ctx.lab.stages.get(stage)
        if status == "stale" and trained is not None and trained.key.data_key != ctx.data_key:
            status = "missing"  # trained on another dataset: nothing was ever trained on this one to go stale
        text, color, icon = BADGE[status]
        where.badge(f"{TITLES[stage]}: {text}", color=color, icon=icon)


def train_button(target: str, ctx: Ctx, label: str | None = None, key: str | None = None) -> None:
    """A button that trains `target` (and any missing or stale stage before it) in the background."""
    plan = ctx.lab.plan(target, ctx.cfg, ctx.data_key)
    blocker = training_blocker(ctx)
    status = ctx.status(target)
    text = label or (f"Retrain {TITLES[target]}" if status != "missing" else f"Train {TITLES[target]}")
    if len(plan) > 1 and label is None:
        text += f" (+ {', '.join(TITLES[s].split(' · ')[0] for s in plan[:-1])})"
    help_text = blocker or ("A training is already running." if ctx.lab.running else
                            "Trains: " + " → ".join(TITLES[s] for s in plan))
    clicked = st.button(text, key=key or f"train_{target}", type="primary", disabled=bool(blocker) or ctx.lab.running,
                        help=help_text, icon=":material/play_arrow:")
    if blocker:
        st.caption(f":material/block: {blocker}")
    if clicked:
        _start(ctx, plan)


def train_form(target: str, keys: tuple[str, ...], ctx: Ctx, columns: int = 3) -> None:
    """A form of a stage's settings whose submit button trains the stage (nothing trains on a mere rerun)."""
    blocker = training_blocker(ctx)
    verb = "Train" if ctx.status(target) == "missing" else "Retrain"
    with st.form(f"form_{target}", border=True):
        cols = st.columns(columns)
        for i, key in enumerate(keys):
            W.widget(key, cols[i % columns])
        submitted = st.form_submit_button(f"{verb} {TITLES[target]}", type="primary",
                                          disabled=bool(blocker) or ctx.lab.running, icon=":material/play_arrow:")
    if blocker:
        st.caption(f":material/block: {blocker}")
    elif ctx.lab.running:
        st.caption("A training is already running in this session.")
    if submitted:
        now = ctx.refresh()
        _start(now, now.lab.plan(target, now.cfg, now.data_key))


def _start(ctx: Ctx, plan: list[str]) -> None:
    """Start a training and rerun so the progress panel shows; a library error is shown instead."""
    try:
        jobs.start(ctx.lab, plan, ctx.dataset, ctx.data_key, ctx.cfg, ctx.choice)
    except RankingError as exc:
        st.error(str(exc))
        return
    st.rerun()


def job_panel(curve_chart: Callable[[dict], object] | None = None) -> None:
    """Live progress of this session's training, with elapsed time and Cancel; collects it when it ends."""
    state = lab()
    job = state.job
    if job is None and state.interrupted:
        _interrupted(state)
        return
    if job is None and state.watching is not None:
        _watch(state)
        return
    if job is None:
        on_sample = data_choice().source == "sample"
        waiting = demo.pending(state, "sample") if on_sample else None
        if waiting is not None:
            startup.panel(waiting)
        elif on_sample and (problem := demo.problem()) and (not state.stages or demo.shared(state)):
            st.caption(problem)
        return
    job.seen()
    if job.done:
        jobs.collect(state)
        if job.error:
            st.error(f"Training stopped: {job.error}")
        elif not job.announced:
            st.success(f"Trained {', '.join(TITLES[s] for s in job.stages)} in {job.seconds:.1f} s.")
            if job.save_problem:
                st.caption(job.save_problem)
            job.announced = True
        return

    @st.fragment(run_every=1.0)
    def _poll() -> None:
        j = lab().job
        if j is None or j.done:
            st.rerun()
        j.seen()
        with st.container():  # one element, whatever is drawn inside
            left, right = st.columns([5, 1])
            left.progress(j.fraction, text=f"{j.message} · {j.elapsed:.0f} s · "
                                           f"{estimate.describe(j.data_key, j.stages, j.elapsed, j.fraction)}")
            right.button("Cancel", key="cancel_job", icon=":material/stop_circle:", on_click=jobs.cancel_own,
                         args=(lab(), j), disabled=j.cancel_requested)
            if curve_chart is not None and j.curves:
                present.chart(curve_chart(dict(j.curves)), key="live_curve")

    _poll()


def _interrupted(state: LabState) -> None:
    """A ``job=`` link whose training this server does not know: say so, offer to train again."""
    with st.container(border=True, key="interrupted"):
        st.markdown(f":material/sync_problem: {state.interrupted}")
        st.button("Retrain", key="interrupted_retrain", type="primary", icon=":material/play_arrow:",
                  help="Train every stage again with the settings in this link.", on_click=_retrain_interrupted,
                  args=(state,))


def _retrain_interrupted(state: LabState) -> None:
    state.interrupted = None
    st.session_state["_retrain_now"] = True  # started by ``page`` once the dataset and settings are known


def _watch(state: LabState) -> None:
    """Another tab's training, opened through its address: progress only (no Cancel, no result). If that
    tab disconnects meanwhile (it was this browser's own tab, refreshed), the job becomes this session's."""

    @st.fragment(run_every=1.0)
    def _poll() -> None:
        j = state.watching
        if j is None or j.done or jobs.attach(state, j, session_active) != "watching":
            state.watching = None if state.job is None else state.watching
            st.rerun()
        st.progress(j.fraction, text=f"Another tab's training: {j.message} · {j.elapsed:.0f} s")
        st.caption("This training belongs to the tab that started it: it gets the result and only it can "
                   "cancel. Train here to get results of your own.")

    _poll()


def training_blocker(ctx: Ctx) -> str | None:
    """Why training cannot start with these settings (None when it can)."""
    try:
        prep = ctx.lab.prepared(ctx.dataset, ctx.cfg, ctx.data_key)
    except RankingError as exc:
        return str(exc)
    if prep.n_eval_users < 2 and ctx.cfg.split.method != "none":
        return (f"Only {prep.n_eval_users} user(s) have at least {ctx.cfg.split.min_history} interactions, "
                "so nothing can be held out for evaluation. Choose \"Train on everything (no evaluation)\" "
                "under Dataset on Home to train the stages anyway.")
    return None


def lesson_link(ctx: Ctx) -> None:
    """The current view as a link: settings that differ from the defaults, dataset, user, run (never a job)."""
    params = url_params(ctx, link=True)
    try:
        base = st.context.url or ""
    except Exception:  # outside a browser session (tests)
        base = ""
    link = base + ("?" + urlencode(params) if params else "")
    with st.popover("Copy lesson link", icon=":material/link:"):
        st.caption("Opening this link reproduces the settings, dataset and chosen user.")
        st.code(link or "(default settings)", language=None)


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
