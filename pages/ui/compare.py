"""Compare like with like: a pinned run (A) against the current results (B), stage for stage.

A is a saved run, named by its id in the URL (``pin=``), so the comparison survives F5 and travels in
a lesson link. Both runs are evaluated at the current post-processing and metric settings on the same
dataset; the chosen stage is compared with the *same* stage (never stage 2 against a final list), with
the noise of each per-user metric, and one user's bump chart and feed side by side.
"""

from __future__ import annotations

import streamlit as st

from pages.session import runs
from pages.session.state import LabState
from ranking import names, pipeline, viz
from ranking.errors import RankingError
from ranking.evaluation import ab, explain
from ranking.names import STAGES
from ranking.pipeline import PipelineResult

from . import changes, present

KEY = "pin"  # session state and URL parameter: the pinned run's id


def pinned_id() -> str | None:
    """The pinned run (A): this session's choice, else the URL's; None when nothing is pinned."""
    if KEY not in st.session_state and KEY in st.query_params:  # a link's pin outlives page switches
        st.session_state[KEY] = st.query_params[KEY]
    raw = st.session_state.get(KEY)
    return raw if runs.valid_id(raw) else None


def _load(ctx, run_id: str) -> tuple[PipelineResult | None, str | None]:
    """A's result evaluated like B (current post/eval settings), or (None, why not)."""
    try:
        saved = runs.load(run_id)
    except (ValueError, OSError, RankingError) as exc:
        return None, f"The pinned run cannot be opened ({_sentence(exc)}); pin a run again."
    if saved.data_key != ctx.data_key:
        return None, "The pinned run was trained on another dataset: pin a run of this dataset to compare."
    stages = saved.stages
    cfg = changes.trained_config(LabState(stages=stages), ctx.cfg)
    outputs = {s: stages[s].output for s in STAGES if s in stages}
    prep = pipeline.prepare_data(ctx.dataset, cfg)
    return pipeline.finish(prep, cfg, outputs), None


def _sentence(exc: Exception) -> str:
    """The reason of a library error without its "1 problem(s) in the input data" heading."""
    problems = getattr(exc, "problems", None)
    return "; ".join(problems) if problems else str(exc)


def pinned(ctx) -> tuple[PipelineResult | None, str | None]:
    """A, memoised per session until the pin, the data or the post/eval settings change."""
    run_id = pinned_id()
    if run_id is None:
        return None, None
    return ctx.lab.memo(("pinned", run_id, ctx.data_key, ctx.cfg.post, ctx.cfg.eval), lambda: _load(ctx, run_id))


def _pin(run_id: str | None) -> None:
    st.session_state[KEY] = run_id


def section(ctx, b: PipelineResult, user_picker) -> None:
    """The "Compare runs" section: pin, the same stage of A and B, deltas with noise, one user side by side."""
    c1, c2 = st.columns([1, 2])
    c1.button("Pin these results as A", icon=":material/push_pin:", key="pin_button", on_click=_pin,
              args=(ctx.lab.run_id,), disabled=ctx.lab.run_id is None,
              help="A stays fixed (also after F5 and in the lesson link); B follows your next trainings.")
    a, problem = pinned(ctx)
    if problem:
        st.warning(problem)
        return
    if a is None:
        c2.caption("Pin these results as A, change a setting and retrain: B is then compared with A, "
                   "stage for stage.")
        return
    if pinned_id() == ctx.lab.run_id:
        c2.caption("A is pinned and is also what you see now: change a setting and retrain to get a B.")
    diff = changes.differences(a.config, b.config)
    c2.markdown("**A → B:** " + ("; ".join(changes.describe(d) for d in diff) if diff else "the same settings"))
    shared = ab.common_stages(a.evaluation, b.evaluation)
    if not shared:
        st.info("A and B have no stage in common.")
        return
    stage = st.selectbox("Stage to compare (the same list in both runs)", shared, index=len(shared) - 1,
                         format_func=names.stage_title, key="ab_stage")
    table = ab.compare(a.evaluation, b.evaluation, stage)
    word, sentence = ab.verdict_sentence(table, b.evaluation.basis)
    color = {"better": "green", "worse": "red"}.get(word, "gray")
    st.markdown(f"### :{color}[{sentence}.]")  # the verdict first: the table is the evidence
    st.dataframe(_readable(table), hide_index=True)
    st.caption("± 95%: half-width of the 95% interval of the mean per-user difference (same users in both "
               "runs); Wilcoxon p: paired signed-rank test. A difference inside ± 95% is within noise.")
    user = user_picker(ctx.dataset)
    left, right = st.columns(2)
    for col, name, run in ((left, "A (pinned)", a), (right, "B (now)", b)):
        every = run.lists()
        order = list(every)
        lists = {s: every[s] for s in order[: order.index(stage) + 1]}  # the funnel up to the compared stage
        # through present: the projector style and display names (the raw frame showed rank, content_id, title)
        present.chart(viz.bump_chart(explain.bump_frame(run.prep, lists, user),
                                     title=f"{name}: user {ctx.dataset.users['user_id'].iloc[user]}"),
                      key=f"ab_bump_{name[0]}", container=col)
        present.table(feed(run, stage, user), container=col, height=300)


def _readable(table):
    """Numbers as text: 3 decimals, users with separators, "—" where a value does not exist (not "None")."""
    out = table.copy()
    for col in out.columns[1:]:
        fmt = "{:,.0f}" if col == "users" else "{:+.3f}" if col == "B − A" else "{:.3f}"
        out[col] = ["—" if v != v else "< 0.001" if col == "Wilcoxon p" and v < 0.001 else fmt.format(v)
                    for v in out[col]]
    return out


def feed(run: PipelineResult, stage: str, user: int):
    """One user's list at one stage: rank, item, topic, publisher (and headline when the data has one)."""
    long = explain.user_lists({stage: run.lists()[stage]}, user)
    items = explain.item_frame(run.prep).iloc[long["item_pos"].to_numpy()].reset_index(drop=True)
    items.insert(0, "rank", long["rank"].to_numpy())
    return items.drop(columns=["restriction"])
