"""Stage 1 — candidate generation: from the whole catalog to K eligible items per user."""

from __future__ import annotations

import numpy as np
import streamlit as st

from pages.ui import common as C
from pages.ui import present as P
from pages.ui import settings as W
from ranking import names, viz
from ranking.evaluation import explain
from ranking.stages.candidates import SOURCE_NAMES, sources_of

SOURCE_LABELS = {"cf": "collaborative filtering", "topic": "topic match", "popularity": "popularity"}

ctx = C.page(
    "Stage 1 — Candidates",
    "Scoring every item for every user with a big model is too slow, so stage 1 uses **cheap sources** "
    "to shortlist K items per user: the user's stated **topic affinity** (the notebook's method), "
    "**popularity** with recency decay, and **collaborative filtering** (a low-rank factorisation of who "
    "engaged with what). Items the user may not see — region-restricted, from a blocked publisher, or "
    "already seen — are filtered out first. The measure of this stage is **recall**: how many of the "
    "items the user later engaged with made the shortlist.",
)
if ctx is not None:
    dataset = ctx.dataset
    left, right = st.columns(2)
    with left:
        W.widget("s1_source")
        W.widget("s1_k")
        W.widget("s1_factors", disabled=W.value("s1_source") not in ("cf", "hybrid"))
    with right:
        W.widget("f_region")
        W.widget("f_block")
        W.widget("f_seen")
        W.widget("s1_max_age")
    ctx = ctx.refresh()
    cfg = ctx.cfg
    s1 = cfg.stage1
    k = s1.resolved_k(dataset.n_items)
    k_shown = f"{k}" + (r"\ \text{(auto)}" if s1.k == 0 else "")  # the box says 0 = auto
    if s1.source == "hybrid":
        quota = " + ".join(f"{share:g}·z_{{\\text{{{name}}}}}" for name, share in s1.quotas)
        st.latex(rf"\text{{stage-1 score}} = {quota}, \qquad K = {k_shown}")
        st.caption("z = each source's score standardised per user. Slots are filled source by source by "
                   "quota (" + ", ".join(f"{name} {share:.0%}" for name, share in s1.quotas) + "), then "
                   "ordered by the blended score.")
    else:
        st.latex(rf"\text{{stage-1 score}} = \text{{{s1.source}}}(u, i), \qquad K = {k_shown}")

    C.train_button("stage1", ctx)

    view = ctx.view()
    if view is None:
        st.info("Train stage 1 to see each user's candidates.")
        st.stop()
    prep, cands = view.prep, view.stage1.lists
    m = view.evaluation.stages["stage1"]
    c = [*st.columns(3), *st.columns(3)]  # two rows: six labels in one row are cut off at 1366 px
    c[0].metric("Candidates per user", f"{cands.lengths.mean():.3g}")
    c[1].metric("Removed by region", f"{cands.removed.get('region', 0):,}")
    c[2].metric("Removed by blocklist", f"{cands.removed.get('blocklist', 0):,}")
    c[3].metric("Removed as already seen", f"{cands.removed.get('seen', 0):,}")
    c[4].metric("Removed as too old", f"{cands.removed.get('age', 0):,}")
    recall_key = names.at("recall", cands.width)
    recall_key = recall_key if recall_key in m else None
    c[5].metric(f"Held-out {names.title(recall_key or 'recall')}",
                "—" if recall_key is None or np.isnan(m[recall_key]) else f"{m[recall_key]:.1%}")
    if not prep.age_limit_applies(cfg.stage1) and cfg.stage1.max_age_days > 0:
        st.info(f"Every item of this dataset is older than the age limit ({cfg.stage1.max_age_days:g} days) at "
                f"serving time (the newest is {prep.item_age_days.min():,.0f} days old), so the limit is not applied.")
    if cands.n_empty:
        st.warning(f"{cands.n_empty} user(s) have no eligible item at all with these filters.")

    tab_user, tab_recall = st.tabs(["One user's candidates", "Recall against K"])
    with tab_user:
        user = C.user_picker(dataset)
        items = explain.item_frame(prep)
        row = cands.items[user]
        keep = row >= 0
        table = items.iloc[row[keep]].reset_index(drop=True)
        table.insert(0, "rank", np.arange(1, keep.sum() + 1))
        table.insert(2, "Filled by", [SOURCE_LABELS.get(SOURCE_NAMES[s], SOURCE_NAMES[s])
                                      for s in cands.source[user][keep]])
        table.insert(3, "In top K of", [", ".join(SOURCE_LABELS.get(n, n) for n in sources_of(b))
                                        for b in cands.source_mask[user][keep]])
        table.insert(4, "Stage 1 score", cands.scores[user][keep])
        if dataset.truth is not None:
            table["true expected score"] = dataset.truth.rows(np.array([user]))[0, row[keep]]  # default label
        u = dataset.users.iloc[user]
        st.caption(f"User {u['user_id']} · region {C.md_escape(u['region'])} · device "
                   f"{C.md_escape(u['device_type'])} · blocklist: {C.md_escape(u['blocklist'] or '—')} · "
                   f"eligible items: {cands.n_eligible[user]}")
        P.table(table, pin=2, height=420)
    with tab_recall:
        ks = sorted({5, 10, 20, 50, 100, 200, k} & set(range(1, dataset.n_items + 1)) | {min(k, dataset.n_items)})
        with st.spinner("Ranking every eligible item by each source…"):
            key = ("recall", ctx.lab.stages["stage1"].key, tuple(ks))
            curve = ctx.lab.memo(key, lambda: explain.recall_curve(prep, view.stage1.model, ks))
        P.chart(viz.recall_at_k(curve, current_k=k), key="recall_chart")
        st.caption("Recall@K = share of a user's held-out positive impressions found in their top K, averaged "
                   "over users with at least one. A larger K finds more but costs stage 2 more work.")
