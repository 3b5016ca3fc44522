"""Home: what the lab is, "train all stages" (with its progress right above it), the dataset, the funnel."""

from __future__ import annotations

import streamlit as st

from pages.session import estimate
from pages.ui import common as C
from pages.ui import smalldata
from pages.ui import views as V

ctx = C.page(
    "Multistage Ranking Lab",
    "A news feed is ranked in stages that get **more expensive as the list gets shorter**: "
    "*candidate generation* narrows the whole catalog to K items per user, an *XGBoost ranker* "
    "orders them and keeps the top N, a *neural re-ranker* re-orders those, and *post-processing* "
    "diversifies the final M. Pick a dataset, train the stages, then follow one user's list through "
    "the funnel on the pages on the left.",
)
if ctx is not None:
    # first thing under the intro, so the progress bar (drawn just above) and the button share the viewport
    c1, c2 = st.columns([1, 2])
    with c1:
        C.train_button("stage3", ctx, label="Train all stages", key="train_all")
    with c2:
        usual = estimate.typical(ctx.data_key, ["stage1", "stage2", "stage3"])
        took = f"took {usual:.0f} s here last time" if usual is not None else "time shown while it runs"
        st.caption(f"Trains stage 1 → 2 → 3 with the current settings ({took}). "
                   "Each stage can also be trained on its own page.")
V.dataset_picker()
if ctx is not None:
    if ctx.choice.source == "upload" and ctx.lab.upload is not None:
        smalldata.capabilities(ctx)
    V.funnel_section(ctx)
    V.headline_metrics(ctx)
