"""Stage 4 · Post-processing — list length, diversity, quality floor and age limit, and what they cost."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from pages.session.state import stage_keys
from pages.ui import common as C
from pages.ui import present as P
from pages.ui import settings as W
from ranking import names, viz
from ranking.evaluation import post_effects as PE

ctx = C.page(
    "Stage 4 · Post-processing",
    "The last step re-scores nothing: it takes stage 3's ranked list and decides which **M** items the user "
    "sees. A **quality floor** and an **age limit** drop items; **diversity** then trades relevance for "
    "variety, either with **MMR** (each next item maximises λ·relevance − (1−λ)·similarity to the items "
    "already chosen; λ = 1 is pure relevance) or with **caps** per topic and publisher. Changes apply "
    "instantly: nothing is retrained.",
)
if ctx is not None:
    cols = st.columns(4)
    for i, key in enumerate(("post_m", "post_floor", "post_age", "post_div")):
        W.widget(key, cols[i])
    mode = W.value("post_div")
    if mode == "mmr":
        W.widget("post_lambda")
    elif mode == "caps":
        c1, c2 = st.columns(2)
        W.widget("post_topic_cap", c1)
        W.widget("post_pub_cap", c2)
    ctx = ctx.refresh()
    cfg = ctx.cfg
    view = ctx.view()
    if view is None or view.stage3 is None or view.post is None:
        st.info("Post-processing works on stage 3's lists: train all stages first.")
        C.train_button("stage3", ctx, label="Train all stages", key="post_train")
        st.stop()
    prep, ev, summary = view.prep, view.evaluation, view.post.changes.summary
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Items dropped (floor + age)", f"{summary['dropped_by_floor']:,}")
    m2.metric("Final positions changed", f"{summary['positions_changed']:,}",
              help="Positions of the final list holding another item than stage 3's plain top M.")
    m3.metric("Users affected", f"{summary['users_affected']:,} of {summary['users']:,}")
    m4.metric("Mean final length", f"{summary['mean_length']:.3g}")

    st.header("Relevance vs diversity over λ (all users)")
    k = cfg.eval.k
    key = ("tradeoff", stage_keys(cfg, ctx.data_key)["stage3"], replace(cfg.post, mmr_lambda=0.0, diversity="mmr"), k)
    sweep = ctx.lab.memo(key, lambda: PE.lambda_sweep(prep, view.stage3.lists, cfg.post, cfg.stage1, k))
    here = (ev.value("final", "diversity"), ev.headline("final"),
            f"current setting ({'MMR λ = ' + format(cfg.post.mmr_lambda, 'g') if mode == 'mmr' else mode})")
    P.chart(viz.tradeoff_curve(sweep, current=here), key="tradeoff")
    rel = names.title(sweep.attrs["relevance"])
    st.caption(f"Each point post-processes every user's stage-3 list with MMR at one λ (quality floor, age limit "
               f"and M as set above). Up = more relevant ({rel}: "
               + ("closeness to each user's truly best list" if ev.has_oracle else "held-out engagement")
               + "); right = more varied (topic diversity: the chance that two items of a list have different "
               "topics). The star is the list the current settings produce.")

    st.header("What each setting swapped for one user")
    user = C.user_picker(ctx.dataset)
    swaps = PE.swaps(prep, view.stage3.lists, cfg.post, user)
    if swaps.empty:
        st.info("For this user the current settings change nothing: the final list is stage 3's top M.")
    else:
        shown = swaps[["step", "change", "headline", "topic", "age", "stage 3 rank", "rank after"]]
        P.table(shown.rename(columns={"change": "in / out", "step": "setting"}), height=min(420, 40 + 36 * len(shown)))
        st.caption("Settings apply in order (quality floor → age limit → diversity); each row is an item the "
                   "setting took out of the list before it, or the item that came in instead. Ranks: in "
                   "stage 3's list and after the setting (— = not in that list).")
    st.page_link("pages/5_Feed.py", label="See this user's final feed as cards", icon=":material/newspaper:")
