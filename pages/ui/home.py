"""Home: what the lab is, the dataset, the funnel at the current settings, and "train all stages"."""

from __future__ import annotations

import streamlit as st

from . import common as C
from . import views as V


def render() -> None:
    """The home page body (app.py routes to it)."""
    ctx = C.page(
        "Multistage Ranking Lab",
        "A news feed is ranked in stages that get **more expensive as the list gets shorter**: "
        "*candidate generation* narrows the whole catalog to K items per user, an *XGBoost ranker* "
        "orders them and keeps the top N, a *neural re-ranker* re-orders those, and *post-processing* "
        "diversifies the final M. Pick a dataset, train the stages, then follow one user's list through "
        "the funnel on the pages on the left.",
    )
    V.dataset_picker()
    if ctx is None:
        return
    dataset, data_key, cfg = ctx
    V.funnel_section(dataset, data_key, cfg)
    st.subheader("Train")
    blocker = C.training_blocker(dataset, cfg, data_key)
    c1, c2 = st.columns([1, 2])
    with c1:
        C.train_button("stage3", dataset, data_key, cfg, label="Train all stages", blocker=blocker,
                       key="train_all")
    with c2:
        st.caption("Trains stage 1 → 2 → 3 with the current settings (about 10–30 s on the sample world). "
                   "Each stage can also be trained on its own page.")
    V.headline_metrics(dataset, data_key, cfg)
