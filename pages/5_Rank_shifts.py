"""Rank shifts — follow one user's items through every stage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from pages.ui import common as C
from pages.ui import feed as FV
from pages.ui import present as P
from ranking import names, viz
from ranking.evaluation import explain

ctx = C.page(
    "Rank shifts",
    "Each stage re-orders the list it receives and passes a shorter one on. The **bump chart** follows "
    "every item of one user's list from stage 1 to the final feed: lines that rise were promoted, an "
    "× marks where an item left the funnel. Below, the flows of the whole funnel and how much each "
    "stage reshuffles lists across all users (Kendall τ: 1 = same order, 0 = unrelated).",
)
if ctx is not None:
    dataset, cfg = ctx.dataset, ctx.cfg
    view = ctx.view()
    if view is None or view.stage2 is None:
        st.info("Train at least stages 1 and 2 (Home → Train all stages) to see rank shifts.")
        st.stop()
    prep, ev = view.prep, view.evaluation
    lists = view.lists()
    basis = ev.basis
    per = ev.per_user
    first, last = next(iter(lists)), list(lists)[-1]
    change = None
    if basis in per.get(first, {}) and basis in per.get(last, {}):
        change = np.asarray(per[last][basis]) - np.asarray(per[first][basis])
    user = C.user_picker(dataset, shortcuts=explain.movers(lists, change))
    bump = explain.bump_frame(prep, lists, user)
    table = explain.user_table(prep, lists, user)
    ids = table["content_id"].tolist()
    highlight = st.selectbox("Highlight an item", [None, *ids], key="highlight",
                             format_func=lambda v: "—" if v is None else f"item {v}")
    P.chart(viz.bump_chart(bump, highlight=highlight), key="bump")
    if change is not None and np.isfinite(change[user]):
        st.caption(f"This user's {names.title(basis)}: {per[first][basis][user]:.3f} at {names.stage_title(first)} → "
                   f"{per[last][basis][user]:.3f} at {names.stage_title(last)} ({change[user]:+.3f}).")

    # what a setting change did to this user's final list: a weight move often keeps the top items in place
    final = explain.user_lists({last: lists[last]}, user).sort_values("rank")
    final_ids = explain.item_frame(prep)["content_id"].to_numpy()[final["item_pos"].to_numpy()].tolist()
    moved = FV.what_moved(f"shifts:{last}:{user}", final_ids)
    if moved is not None:
        st.markdown(f":material/swap_vert: **Since the last change, {names.stage_title(last)}:** {moved.summary()}.")
        table.insert(2, "Since last change", [moved.mark(c) or ("left" if c in moved.left else "")
                                              for c in table["content_id"]])

    st.header("Ranks and moves")
    P.table(table.drop(columns=["item_pos"]), pin=2, height=360)

    if highlight is not None:
        st.header(f"Why did item {highlight} move?")
        row = table[table["content_id"] == highlight].iloc[0]
        ranks = {c: row[c] for c in table.columns if c.startswith("rank ")}
        st.write(" → ".join(f"{c[5:]}: {'out' if pd.isna(v) else int(v)}" for c, v in ranks.items()))
        contrib = view.stage2.model.contributions(prep, view.stage1.lists, user)
        if highlight in contrib.index:
            r = contrib.loc[highlight]
            features = view.stage2.model.feature_names_
            P.chart(viz.contributions(r[features], float(r["bias"]),
                                                 f"Stage 2's reasons for item {highlight}"), key="why")
            st.caption("Contributions are SHAP values in **log-odds**: the model's score before the sigmoid, "
                       "log(p / (1 − p)). +1 multiplies the odds of engagement by e ≈ 2.7.")

    st.header("The funnel")
    scope = st.radio("Flows for", ["this user", "all users (per user average)"], horizontal=True,
                     key="sankey_scope")
    flows = explain.sankey_flows(prep, cfg, lists, user if scope == "this user" else None)
    if scope != "this user":
        flows["value"] = flows["value"] / prep.n_users
    P.chart(viz.sankey(flows), key="sankey")

    st.header("How much does each stage reshuffle?")
    taus = {name: np.asarray(per[name]["kendall_tau"]) for name in ev.transitions if name in per}
    P.chart(viz.kendall_tau_hist(taus), key="tau")
    st.caption("**Kendall τ** compares two orders of the same items: the share of item pairs both stages order "
               "the same way minus the share they order oppositely. 1 = same order, 0 = unrelated, −1 = reversed.")
    st.page_link("pages/5_Feed.py", label="See this user's feed as news cards, beside the truly best feed",
                 icon=":material/newspaper:")
