"""The Evaluation page's seed check: retrain with 3 training seeds, then one verdict per step.

A button starts ``pages.session.seed_jobs`` (a background job in the worker pool); a self-refreshing
fragment shows its progress; the result is drawn by ``ranking.viz.seed_charts`` with the verdict
rule in words. The study belongs to the settings and data it was run on (``key``); after a setting
changes the page offers the button again instead of showing an old answer as current.
"""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from pages.session import seed_jobs
from pages.ui import present as P
from ranking import names, viz
from ranking.errors import RankingError
from ranking.evaluation import seeds as SS
from ranking.evaluation.seeds import SeedStudy
from ranking.study import DEFAULT_SEEDS
from ranking.viz.seed_charts import seed_effects

from . import common as C

JOB = "_seed_job"  # session_state key of this session's seed study
CURVE_JOB = "_curve_job"  # … and of its learning curve


def _key(ctx: C.Ctx) -> tuple:
    return (ctx.data_key, ctx.cfg, DEFAULT_SEEDS)


def _mine(state_key: str, ctx: C.Ctx):
    """This session's background job under ``state_key`` when it was asked for the current settings and data,
    else None (a job for other settings is not shown as current)."""
    job = st.session_state.get(state_key)
    return job if job is not None and job.key == _key(ctx) else None


def current_study(ctx: C.Ctx) -> SeedStudy | None:
    """The finished study for the current settings and data, if this session ran one."""
    job = _mine(JOB, ctx)
    return job.result if job is not None and job.done else None


def seed_section(ctx: C.Ctx) -> None:
    """Button → background study → chart and table of per-seed effects with the verdict per step."""
    st.markdown(f"### Is each step's gain more than training noise?\n"
                f"A Wilcoxon test over users counts users as the only noise, yet retraining with another seed "
                f"can change a stage's gain — even its sign. This check keeps the data and the split, retrains "
                f"every stage with {DEFAULT_SEEDS} training seeds and compares the lists seed by seed.")
    st.caption(f"**Verdict rule:** {SS.RULE}")
    job = _mine(JOB, ctx)
    if job is not None and not job.done:
        _progress()
        return
    if job is not None:
        if job.error:
            st.error(f"The seed check stopped: {job.error}")
        elif job.result is not None:
            _show(job.result, job.seconds)
    label = f"Check across {DEFAULT_SEEDS} training seeds"
    if st.button(label if job is None else "Run the seed check again",
                 key="seed_study", icon=":material/casino:", disabled=ctx.lab.running,
                 help="Trains every stage once more per extra seed (about a minute on the sample world)."):
        _start(ctx)


def curve_section(ctx: C.Ctx) -> None:
    """Button → background learning curve → chart of every stage and baseline by share of the log, and the
    lesson in one sentence."""
    st.markdown("### How much data does each stage need?\n"
                "Every stage and baseline is trained again on 10, 25, 50 and 100 % of the training log (a random "
                f"sample of its rows, {DEFAULT_SEEDS} training seeds each) and scored on the same held-out users "
                "and eligible items. Where the lines cross is the lesson: learned stages need data that "
                "transparent models do not.")
    job = _mine(CURVE_JOB, ctx)
    if job is not None and not job.done:
        _curve_progress()
        return
    if job is not None:
        if job.error:
            st.error(f"The learning curve stopped: {job.error}")
        elif job.result is not None:
            P.chart(viz.data_curve(job.result), key="data_curve")
            st.markdown(f"**{job.result.sentence()}**")
            st.caption(f"Bands: lowest to highest training seed; {job.seconds:.0f} s. Items a user saw in rows "
                       "left out still count as seen, so every share ranks the same eligible items.")
    label = "Draw the learning curve" if job is None else "Draw it again"
    if st.button(label, key="learning_curve", icon=":material/show_chart:", disabled=ctx.lab.running,
                 help=f"Trains every stage {4 * DEFAULT_SEEDS} times (a minute or two on the sample world)."):
        try:
            prep = ctx.lab.prepared(ctx.dataset, ctx.cfg, ctx.data_key)
            st.session_state[CURVE_JOB] = seed_jobs.start_curve(prep, ctx.cfg, _key(ctx))
        except RankingError as exc:
            st.error(str(exc))
            return
        st.rerun()


def _start(ctx: C.Ctx) -> None:
    try:
        prep = ctx.lab.prepared(ctx.dataset, ctx.cfg, ctx.data_key)
        st.session_state[JOB] = seed_jobs.start(prep, ctx.cfg, _key(ctx),
                                                trained=ctx.lab.fresh_outputs(ctx.cfg, ctx.data_key))
    except RankingError as exc:
        st.error(str(exc))
        return
    st.rerun()


@st.fragment(run_every=1.0)
def job_progress(state_key: str, what: str, cancel_key: str) -> None:
    """A background job's progress bar and Cancel button, refreshed every second until it is done."""
    job = st.session_state.get(state_key)
    if job is None or job.done:
        st.rerun()
    job.seen()
    left, right = st.columns([5, 1])
    left.progress(job.fraction, text=f"{what}: {job.message} · {job.elapsed:.0f} s")
    right.button("Cancel", key=cancel_key, icon=":material/stop_circle:", on_click=job.cancel,
                 disabled=job.cancel_requested)


def _progress() -> None:
    job_progress(JOB, "Seed check", "cancel_seed_study")


def _curve_progress() -> None:
    job_progress(CURVE_JOB, "Learning curve", "cancel_curve")


def _show(study: SeedStudy, seconds: float) -> None:
    P.chart(seed_effects(study), key="seed_effects")
    st.dataframe(effects_table(study), hide_index=True)  # already display names
    st.caption(f"Seeds {', '.join(map(str, study.seeds))}; {seconds:.0f} s. Effect = mean per-user change in "
               f"{names.title(study.basis)} from A to B with that seed; p = its Wilcoxon test over users. "
               + ("Baselines (popularity, smoothed CTR, the two heuristics, the GLM, logistic regression) are "
                  "compared with the final feed; those fitted on the log do not change with the training seed. "
                  if any(c.a in SS.BASELINE_SHORT for c in study.comparisons) else "")
               + _margin_text(study) + " " + " ".join(study.notes))


def _margin_text(study: SeedStudy) -> str:
    """The final feed against the best baseline in one sentence."""
    margin = study.baseline_margin()
    if margin is None:
        return ""
    best, gap = margin
    last = next(c.b for c in study.comparisons if c.a == best)
    verdict = study.comparison(best, last).verdict_text()
    return (f"Best baseline: {SS.BASELINE_SHORT[best]}; {names.SHORT.get(last, last)} is {gap:+.3f} from it on "
            f"average ({verdict}).")


def effects_table(study: SeedStudy) -> pd.DataFrame:
    """One row per comparison: effect (and p) per seed, mean ± SD, interval, verdict, for people."""
    rows = []
    for c in study.comparisons:
        lo, hi = c.interval
        row = {"Comparison (A → B)": c.title(), "Verdict": c.verdict_text()}
        for seed, e, p in zip(c.seeds, c.effects, c.p_values, strict=True):
            row[f"Seed {seed}"] = "n/a (too few users)" if math.isnan(e) else f"{e:+.4f} ({_p(p)})"
        row["Mean ± SD"] = "n/a" if math.isnan(c.sd) else f"{c.mean:+.4f} ± {c.sd:.4f}"
        row[f"{c.confidence:.0%} interval"] = "n/a" if math.isnan(lo) else f"{lo:+.4f} to {hi:+.4f}"
        rows.append(row)
    return pd.DataFrame(rows)


def _p(p: float) -> str:
    return "p n/a" if math.isnan(p) else "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
