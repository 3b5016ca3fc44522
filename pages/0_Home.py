"""Home: what the lab is, the dataset, the funnel at the current settings, and "train all stages"."""

from __future__ import annotations

import streamlit as st

from pages.ui import common as C
from pages.ui import views as V

ctx = C.page(
    "Multistage Ranking Lab",
    "A news feed is ranked in stages that get **more expensive as the list gets shorter**: "
    "*candidate generation* narrows the whole catalog to K items per user, an *XGBoost ranker* "
    "orders them and keeps the top N, a *neural re-ranker* re-orders those, and *post-processing* "
    "diversifies the final M. Pick a dataset, train the stages, then follow one user's list through "
    "the funnel on the pages on the left.",
)
V.dataset_picker()
if ctx is not None:
    V.funnel_section(ctx)
    st.subheader("Train")
    c1, c2 = st.columns([1, 2])
    with c1:
        C.train_button("stage3", ctx, label="Train all stages", key="train_all")
    with c2:
        st.caption("Trains stage 1 → 2 → 3 with the current settings (about 10–30 s on the sample world). "
                   "Each stage can also be trained on its own page.")
    V.headline_metrics(ctx)
