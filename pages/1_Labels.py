"""Labels: tune the compound engagement label and see what it does to the training data."""

from __future__ import annotations

import numpy as np
import streamlit as st

from pages.ui import common as C
from pages.ui import present as P
from pages.ui import settings as W
from ranking import data, viz
from ranking.data import schema as SC
from ranking.prep import labels as L

CUSTOM = "Custom (differs from every preset)"

ctx = C.page(
    "Labels — what counts as engagement",
    "Models learn from a **label**, not from raw clicks. Each impression gets a compound engagement "
    "score from what happened after it was shown — click, dwell time, share, comments, hide — and is "
    "**positive when the score is above the threshold**. Move the weights and watch how many "
    "impressions become positive. By default the stages predict each signal and rank by the weighted sum, "
    "so the weights re-rank every feed at once; on the notebook's path they train on these labels.",
)
if ctx is not None:
    dataset, cfg = ctx.dataset, ctx.cfg
    if dataset.recorded != SC.OUTCOMES:
        missing = [s for s in SC.OUTCOMES if s not in dataset.recorded]
        st.info(f"This log records only **{', '.join(dataset.recorded)}**: {', '.join(missing)} are 0 in every row "
                "(MIND logs only clicks). Their weights would multiply zeros, so the label starts as *clicks only*: "
                "positive when clicked (weight 1, threshold 0.5).")

    def apply_preset() -> None:
        chosen = st.session_state.get("preset")
        if chosen in L.PRESETS:
            W.set_values(W.label_values(L.PRESETS[chosen]))
        st.session_state["preset"] = None  # the box goes back to naming what the sliders match

    # The box names the preset the sliders match now, "Custom" once they match none, as its placeholder; choosing
    # a preset applies it. It keeps no value of its own: a value the script wrote into the box raced with the
    # browser's copy during quick slider moves (arrow keys), which then "chose" the old preset and undid the move.
    st.selectbox("Preset", list(L.PRESETS), index=None, placeholder=W.matching_preset(L.PRESETS) or CUSTOM,
                 key="preset", on_change=apply_preset,
                 help="Notebook defaults reproduce the original walkthrough exactly. Choosing a preset applies it.")

    left, right = st.columns(2)
    with left:
        for key in ("w_click", "w_dwell", "w_share", "w_comment", "w_hide"):
            W.widget(key)
    with right:
        W.widget("threshold")
        W.widget("dwell_mode")
        W.widget("expected_dwell", disabled=W.value("dwell_mode") != "constant")
        W.widget("comment_mode")
        W.widget("target")
    cfg = W.current_config()
    st.latex(cfg.labels.formula())
    if cfg.target == "signals":
        st.info("**Predict, then combine.** Stages 2 and 3 predict each signal — P(click), expected dwell, "
                "P(share), expected comments, P(hide) — and rank by Σ weight × prediction with the weights above. "
                "Moving a weight **re-ranks every feed at once, without retraining**, as production feeds do. "
                "The threshold only defines the 0/1 label that held-out metrics count as a hit.")
    else:
        st.info("**Label, then train** (the notebook's path): the score is cut at the threshold into a 0/1 "
                "label and stages 2 and 3 learn to predict it. Every weight or threshold change needs a retrain.")

    inter = dataset.interactions

    def scored(labels_cfg: L.LabelConfig, kind: str) -> np.ndarray:  # kept per session until the settings move
        def compute() -> np.ndarray:
            topics = L.content_topics(inter, dataset.content) if labels_cfg.expected_dwell == "per_topic" else None
            return L.score(inter, labels_cfg, topics)
        return ctx.lab.memo((kind, ctx.data_key, labels_cfg), compute)

    scores = scored(cfg.labels, "label_scores")
    labels = L.label(scores, cfg.labels)

    trained_on = ctx.lab.stages.get("stage1")
    ref_options = {"Notebook defaults": L.LabelConfig()}
    if trained_on is not None and trained_on.key.labels is not None:  # label mode only
        ref_options["Labels the stages were trained on"] = trained_on.key.labels
    ref_name = st.radio("Compare with", list(ref_options), horizontal=True, key="label_ref")
    ref_cfg = ref_options[ref_name]
    ref_labels = L.label(scored(ref_cfg, "reference_scores"), ref_cfg)

    n, n_pos = len(labels), int(labels.sum())
    flipped = np.nonzero(labels != ref_labels)[0]
    m1, m2, m3 = st.columns(3)
    m1.metric("Positive rate", f"{n_pos / max(n, 1):.1%}",
              f"{(n_pos - int(ref_labels.sum())) / max(n, 1):+.1%} vs reference")
    m2.metric("Positive impressions", f"{n_pos:,} of {n:,}")
    m3.metric("Labels flipped vs reference", f"{len(flipped):,}")
    P.chart(viz.score_histogram(scores, labels, cfg.labels.threshold, ref_labels), key="hist")

    if n_pos == 0 or n_pos == n:
        st.warning("With these settings every impression has the same label, so no model can learn "
                   "from it: the train buttons are disabled until both classes exist.")
    if len(flipped):
        with st.expander(f"Which impressions flipped ({len(flipped):,})"):
            show = inter.iloc[flipped[:500]][[SC.USER_ID, SC.CONTENT_ID, *SC.OUTCOMES]].copy()
            show["score now"] = scores[flipped[:500]]
            show["label now"] = labels[flipped[:500]]
            show["label before"] = ref_labels[flipped[:500]]
            P.table(show, pin=2)
            if len(flipped) > 500:
                st.caption(f"First 500 of {len(flipped):,} shown; the download has all of them.")

    def labelled_csv(labels_cfg=cfg.labels) -> bytes:
        return data.labelled_bytes(L.labelled(inter, dataset.content, labels_cfg))  # the CLI's `label` bytes

    # built only when clicked: a slider move must not serialise every interaction
    st.download_button("Download labelled interactions (CSV)", labelled_csv,
                       file_name="interactions_labelled.csv", mime="text/csv", icon=":material/download:")
