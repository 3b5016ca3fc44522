"""Stage 3 — a Keras neural network re-ranks stage 2's top N."""

from __future__ import annotations

import streamlit as st

from pages.ui import common as C
from pages.ui import present as P
from ranking import names, viz
from ranking.evaluation import explain
from ranking.viz import tables as T

ctx = C.page(
    "Stage 3 — Neural re-ranker",
    "The last model sees only stage 2's top N per user, so it can afford to be heavier: a **neural "
    "network** over the same leak-free features, plus learned **embeddings of the user and item IDs** "
    "(collaborative signal the trees cannot express) and, optionally, stage 2's score as an input "
    "(*stacking*, using out-of-fold scores so stage 2's training labels do not leak). It is trained "
    "with dropout and early stopping on held-out users; TensorFlow is only loaded when you train it.",
    curves=viz.loss_curve,
)
if ctx is not None:
    dataset, cfg = ctx.dataset, ctx.cfg
    C.train_form("stage3", ("s3_hidden", "s3_dropout", "s3_epochs", "s3_batch", "s3_lr", "s3_ids", "s3_stack"),
                 ctx)
    n3 = cfg.stage3
    layers = " → ".join(str(h) for h in n3.hidden)
    residual = cfg.target == "signals" and n3.use_stage2_score
    inputs = ["features"] + (["user & item embeddings"] if n3.id_embeddings else []) + (
        ["stage-2 score"] if n3.use_stage2_score and not residual else [])
    heads = ("five correction heads, each added to stage 2's prediction of its signal (logit or log scale)"
             if residual else "one output per signal" if cfg.target == "signals" else "sigmoid")
    st.caption(f"Network: [{' + '.join(inputs)}] → Dense {layers} (ReLU, dropout {n3.dropout:g}) → {heads}. "
               f"Adam, learning rate {n3.learning_rate:g}, batch {n3.batch_size}, up to {n3.epochs} epochs.")

    view = ctx.view()
    if view is None or view.stage3 is None:
        st.info("Train stage 3 (earlier stages are trained first if needed) to see its loss curve and "
                "each user's re-ranked list.")
        st.stop()
    prep, s3 = view.prep, view.stage3
    if note := getattr(s3.model, "guard_note", lambda: "")():
        st.warning(note, icon=":material/shield:")
    ev = view.evaluation.stages
    basis = view.evaluation.basis
    c = st.columns(4)
    c[0].metric("Epochs run", f"{len(s3.model.history_.get('loss', []))}")
    s3m, s2m = ev["stage3"], ev["stage2"]
    c[1].metric("Held-out AUC (pooled)", T.metric(s3m.get("auc")), **T.delta(s3m.get("auc"), s2m.get("auc"), "stage 2"))
    c[2].metric("Log-loss", T.metric(s3m.get("logloss")) if cfg.target != "signals" else "—",
                help="Log-loss needs probabilities; with five signals the score is Σ weight × prediction, a value."
                if cfg.target == "signals" else None)
    c[3].metric(names.title(basis), T.metric(s3m.get(basis)), **T.delta(s3m.get(basis), s2m.get(basis), "stage 2"))
    t1, t2 = st.tabs(["Loss curve", "One user's list"])
    with t1:
        P.chart(viz.loss_curve(s3.model.history_), key="loss")
    with t2:
        user = C.user_picker(dataset)
        lists = {"stage2": view.stage2.lists, "stage3": s3.lists}
        table = explain.user_table(prep, lists, user)
        P.table(table.drop(columns=["item_pos"]), pin=2, height=420)
        st.caption("Δ is positive when stage 3 moved the item up. The rank-shifts page follows the "
                   "whole list through every stage.")
