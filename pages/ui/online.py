"""The Online test page's sections: the A/B test with interleaving, impressions needed, and the feedback loop.

Every number comes from ``ranking.online``; results stay in this session (``st.session_state``) until the
next run of the same section. The loop runs as a background job (``pages.session.online_jobs``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from pages.session import online_jobs
from pages.ui import compare
from pages.ui import present as P
from pages.ui.seeds import job_progress
from ranking.errors import RankingError
from ranking.online import ListPolicy, OraclePolicy, PopularityPolicy, RandomPolicy, ab_test, interleave_test
from ranking.online.interleave import impressions_needed, power_curve
from ranking.online.measures import SIGNAL_NAMES
from ranking.viz.online_charts import ab_effects, impressions_needed_chart, loop_chart, loop_groups_chart

from . import common as C

AB, NEEDED, LOOP = "_online_ab", "_online_needed", "_online_loop"
ARMS = {"pinned": "Pinned run (A on the Evaluation page)", "current": "Trained stages at the current settings",
        "popularity": "Popularity (most clicked)", "random": "Random order", "oracle": "Oracle (the truth)"}


def _policies(ctx: C.Ctx) -> dict[str, object]:
    """Every arm available now: the trained stages and the pinned run when there are any, and the references."""
    out: dict[str, object] = {}
    pinned, _ = compare.pinned(ctx)
    if pinned is not None:
        out["pinned"] = ListPolicy.from_result(pinned, "pinned run")
    view = ctx.view()
    if view is not None and view.post is not None:
        out["current"] = ListPolicy.from_result(view, "current settings")
    out.update(popularity=PopularityPolicy(), random=RandomPolicy(seed=ctx.cfg.seed),
               oracle=OraclePolicy(labels=ctx.cfg.labels))
    return out


def ab_section(ctx: C.Ctx) -> None:
    """Two arms, days and a seed → the A/B table, its chart, the offline forecast, interleaving."""
    st.markdown("### A/B test and interleaving")
    policies = _policies(ctx)
    options = list(policies)
    a_default = "pinned" if "pinned" in options else "popularity"
    b_default = "current" if "current" in options else "oracle"
    c1, c2, c3, c4 = st.columns([3, 3, 2, 1])
    a = c1.selectbox("Arm A", options, index=options.index(a_default), format_func=ARMS.get, key="online_a")
    b = c2.selectbox("Arm B", options, index=options.index(b_default), format_func=ARMS.get, key="online_b")
    days = c3.slider("Days", 1, 14, 7, key="online_days", help="simulated days the test runs")
    seed = int(c4.number_input("Seed", 0, 2**31 - 1, 0, key="online_seed"))
    if "current" not in options:
        st.caption("Train the stages (Home → Train all stages) to test them; pin a run on the Evaluation page to "
                   "test it against the current settings.")
    if st.button("Run the A/B test", key="online_run_ab", icon=":material/science:", type="primary"):
        pa, pb = policies[a], policies[b]
        names = (f"A: {pa.name}", f"B: {pb.name}")
        with st.spinner("Serving both feeds to the world's users…"):
            res = ab_test(ctx.dataset, pa, pb, days, seed, ctx.cfg.labels, names)
            inter = interleave_test(ctx.dataset, pa, pb, days, seed, names)
        st.session_state[AB] = (res, inter, (a, b, days, seed))
        st.session_state.pop(NEEDED, None)
    if AB not in st.session_state:
        return
    res, inter, (a, b, days, seed) = st.session_state[AB]
    st.markdown(f"**{res.verdict()}**")
    st.caption(f"{res.n_impressions:,} impressions over {res.days} days (seed {res.seed}); "
               f"{int((~res.arm).sum())} users in A, {int(res.arm.sum())} in B. Compound value: the current label's "
               f"score, {ctx.cfg.labels.formula_text()} (its threshold plays no part here).")
    per = st.radio("Per", ("impression", "user"), horizontal=True, key="online_per",
                   format_func=lambda p: f"per {p}")
    P.chart(ab_effects(res.table, res.names, per), key="online_ab_chart")
    rows = res.table[res.table["per"] == per]
    P.table(rows[["name", "A", "B", "B − A", "low", "high", "verdict"]].rename(columns={
        "name": "Signal", "A": res.names[0], "B": res.names[1], "low": "95 % low", "high": "95 % high",
        "verdict": "Verdict"}))
    if not res.offline.empty:
        st.markdown("**What offline numbers predicted, before the test**")
        P.table(res.offline.rename(columns={"offline measure": "Offline measure"}))
    st.markdown(f"**Team-draft interleaving** of the same two feeds, for the same users and days: {inter.verdict()}.")
    st.caption("Every visit gets one slate merged from both feeds (the team with fewer picks adds its best item not "
               "yet shown; a coin breaks ties); a click credits the feed that placed the item, and the feed with "
               "more credited clicks wins the visit (Radlinski, Kurup & Joachims 2008).")
    _needed(ctx, a, b, days, seed)


def _needed(ctx: C.Ctx, a: str, b: str, days: int, seed: int) -> None:
    left, right = st.columns([2, 3], vertical_alignment="bottom")
    metric = left.selectbox("Decide by", list(SIGNAL_NAMES), format_func=SIGNAL_NAMES.get, key="online_needed_by",
                            help="the A/B test compares this per impression; interleaving credits it per visit")
    if right.button("How many impressions does each test need?", key="online_needed",
                    icon=":material/query_stats:", help="Repeats both tests 10 times (a few seconds)"):
        policies = _policies(ctx)
        try:
            with st.spinner("Repeating both tests with 10 seeds…"):
                st.session_state[NEEDED] = (impressions_needed(ctx.dataset, policies[a], policies[b], days, 10, seed,
                                                               ctx.cfg.labels, metric=metric), metric)
        except RankingError as exc:
            st.error(str(exc))
    if NEEDED not in st.session_state:
        return
    needed, metric = st.session_state[NEEDED]
    top = float(np.nanmax(np.where(np.isfinite(needed["impressions needed"]), needed["impressions needed"], 0)))
    sizes = np.geomspace(10, max(top * 4, needed["impressions per test"].max() * 2, 100), 80)
    P.chart(impressions_needed_chart(power_curve(needed, sizes), needed), key="online_needed_chart")
    P.table(needed[["method", "impressions per test", "mean z", "power at this size", "impressions needed"]])
    st.caption(f"Both tests are decided by {SIGNAL_NAMES[metric]} here. Each test was repeated 10 times: z̄ is its "
               "mean test statistic, which grows with the square root of the impressions, so the impressions needed "
               "for 80 % power at the 5 % level are n̄·((1.96 + 0.84) / z̄)².")


def loop_section(ctx: C.Ctx) -> None:
    """Policies, rounds and days → a background deployment with progress and Cancel → charts and table."""
    st.markdown("### Deploy for R rounds: the feedback loop")
    st.markdown("Each round serves the feed for some days, adds what it logged to the training data and retrains "
                "every stage on it (the pipeline, with the current settings). Do the feeds narrow? Round 0 is the "
                "world's own logging policy, before deployment.")
    c1, c2, c3 = st.columns([4, 2, 2])
    chosen = c1.multiselect("Deploy", list(online_jobs.POLICY_NAMES), default=["pipeline", "popularity"],
                            format_func=online_jobs.POLICY_NAMES.get, key="online_loop_policies")
    rounds = c2.slider("Rounds (R)", 1, 10, 5, key="online_rounds")
    days = c3.slider("Days per round", 1, 7, 3, key="online_round_days")
    job = st.session_state.get(LOOP)
    if job is not None and not job.done:
        job_progress(LOOP, "Deploying", "online_cancel")
        return
    if st.button(f"Deploy for {rounds} rounds", key="online_deploy", icon=":material/rocket_launch:",
                 disabled=not chosen or ctx.lab.running,
                 help="The pipeline retrains every stage once per round, in the background"):
        st.session_state[LOOP] = online_jobs.start(ctx.dataset, ctx.cfg, (ctx.data_key, ctx.cfg), tuple(chosen),
                                                   rounds, days, int(st.session_state.get("online_seed", 0)))
        st.rerun()
    if job is None:
        return
    if job.error:
        st.error(f"The deployment stopped: {job.error}")
    if not job.results:
        return
    tables = {online_jobs.POLICY_NAMES[name]: r.table for name, r in job.results.items()}
    P.chart(loop_chart(tables), key="online_loop_chart")
    P.chart(loop_groups_chart(tables), key="online_loop_groups")
    st.markdown(_loop_sentence(tables))
    frame = pd.concat(tables.values(), ignore_index=True)
    P.table(frame[["policy", "round", "impressions", "value per impression", "coverage", "exposure Gini",
                   "recommended popularity (clicks)", "feed similarity (Jaccard)", "oracle NDCG@10",
                   "value per impression, mainstream", "value per impression, niche"]])
    st.caption(f"{job.rounds} rounds × {job.days} days, {job.elapsed:.0f} s. Coverage and Gini count the items live "
               "during the round; feed similarity is the mean Jaccard overlap of the items two users were shown "
               "(2,000 seeded pairs of active users); niche users are the half whose topic tastes lie furthest "
               "from the average user's.")


def _loop_sentence(tables: dict[str, pd.DataFrame]) -> str:
    parts = []
    for name, t in tables.items():
        first, last = t.iloc[0], t.iloc[-1]
        parts.append(f"**{name}**: exposure Gini {first['exposure Gini']:.2f} → {last['exposure Gini']:.2f}, "
                     f"coverage {first['coverage']:.0%} → {last['coverage']:.0%}, feed similarity "
                     f"{first['feed similarity (Jaccard)']:.2f} → {last['feed similarity (Jaccard)']:.2f}, "
                     f"value per impression {first['value per impression']:.2f} → {last['value per impression']:.2f}")
    return "From before deployment to the last round — " + "; ".join(parts) + "."
