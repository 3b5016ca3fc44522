"""Feed — one user's feed at each stage as news cards, beside the truly best feed for the current weights."""

from __future__ import annotations

import streamlit as st

from pages.ui import common as C
from pages.ui import feed as FV
from ranking import names
from ranking.data import schema as S
from ranking.evaluation import feed as F

ctx = C.page(
    "Feed",
    "What the user actually sees: each stage's list as **news cards** (headline, publisher, topic, age at "
    "serving time, and the engagement the model expects, or its score when it predicts no separate "
    "signals). On a generated world the **truly best feed** sits beside it: the items this user would "
    "value most under the current label weights, known only because the world's truth is known.",
)
if ctx is not None:
    view = ctx.view()
    if view is None:
        st.info("Train the stages first (Home → Train all stages); the feed appears here.")
        C.train_button("stage3", ctx, label="Train all stages", key="feed_train")
        st.stop()
    prep, cfg = view.prep, ctx.cfg
    lists = view.lists()
    user = C.user_picker(ctx.dataset)
    options = list(lists)
    if st.session_state.get("feed_stage") not in options:  # e.g. "final" kept from before a retrain of stage 1
        st.session_state.pop("feed_stage", None)
    stage = st.radio("Feed after", options, index=len(options) - 1, format_func=names.stage_title,
                     horizontal=True, key="feed_stage")
    n = min(cfg.post.m, 30)
    out = view.outputs.get(stage) or view.stage3
    signals = out.signals if out is not None else {}
    source = out.lists.items if out is not None else None
    today = F.feed_cards(prep, lists[stage], user, n=n, signals=signals or None, signal_items=source)
    today = F.with_truth(today, prep, user, cfg.labels)
    best = F.best_feed(prep, user, cfg.stage1, n, labels=cfg.labels)
    moved = FV.what_moved(f"feed:{stage}:{user}", today[S.CONTENT_ID].tolist())
    FV.comparison(today, best, f"Today's feed · {names.stage_title(stage)} (top {n})", moved=moved)
    if not signals:
        st.caption("This stage predicts no separate engagement signals, so each card shows its ranking score.")
    st.page_link("pages/5_Rank_shifts.py", label="How did these items move between stages? (Rank shifts)",
                 icon=":material/swap_vert:")
