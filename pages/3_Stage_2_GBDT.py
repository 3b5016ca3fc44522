"""Stage 2 — an XGBoost ranker orders each user's candidates and keeps the top N."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from pages.ui import common as C
from pages.ui import present as P
from ranking import names, viz
from ranking.evaluation import explain
from ranking.stages import features as F
from ranking.stages import gbdt
from ranking.viz import tables as T


def _live_curve(curves: dict):
    """The live chart during a training: one line per signal model (five models, one after the other), or the
    single model's train/validation curves."""
    if per_signal := gbdt.signal_curves(curves):
        return viz.signal_curves(per_signal)
    out: dict[str, dict[str, list[float]]] = {}
    for name, values in curves.items():
        part, _, metric = name.partition("-")
        out.setdefault(part, {})[metric] = values
    return viz.learning_curve(out)


ctx = C.page(
    "Stage 2 — XGBoost ranker",
    "Stage 2 scores every candidate with **gradient-boosted trees** over features that depend on the "
    "pair, not just the user: the user's affinity for *this* item's topic, their past engagement with "
    "*this* publisher, the item's quality, freshness and popularity, region match and the stage-1 scores. "
    "(The notebook's model saw only user columns plus quality, so every candidate got the same score.) "
    "It trains on each user's **later** training impressions with features computed from their "
    "**earlier** ones, so no label leaks into its inputs, and keeps the **top N** for stage 3.",
    curves=_live_curve,
)



if ctx is not None:
    dataset, cfg = ctx.dataset, ctx.cfg
    C.train_form("stage2", ("s2_objective", "s2_trees", "s2_depth", "s2_lr", "s2_top_n"), ctx)
    st.caption(("**Predict, then combine**: five tree models, one per signal — P(click), expected dwell, "
                "P(share), expected comments, P(hide) — and each candidate's score is Σ weight × prediction with "
                "the label weights, so moving a weight re-ranks at once. The slot an impression was shown in is "
                "a feature, and every candidate is scored as if shown at the top (position bias removed). "
                + ("**The trees start from the per-signal GLM** (the Evaluation page's strongest transparent "
                   "baseline) and learn only corrections to it; the item's age and the stage-1 scores are left "
                   "to the GLM, whose straight-line age effect still holds past the ages the old feed showed, "
                   "so stage 2 cannot fall far below the GLM — and beats it only where the trees find more."
                   if cfg.stage2.boost_from_glm else "")
                if cfg.target == "signals" else f"Objective **{names.option_title(cfg.stage2.objective)}**: " + (
        "LambdaMART — each user's candidates form one query and the trees optimise NDCG of the order."
        if cfg.stage2.objective.startswith("rank") else
        "pointwise — the trees predict the probability that an impression is positive."))
        + f" Early stopping after {cfg.stage2.early_stopping_rounds} rounds without improvement on "
        "held-out users.")

    view = ctx.view()
    if view is None or view.stage2 is None:
        st.info("Train stage 2 (it trains stage 1 first if needed) to see its learning curve, "
                "feature importance and each user's re-ranked list.")
        st.stop()
    prep, s2 = view.prep, view.stage2
    model = s2.model
    ev = view.evaluation
    m = ev.stages["stage2"]
    k = cfg.eval.k
    c = st.columns(5)
    c[0].metric("Training rows (targets)", f"{model.n_train_rows_:,}", help="Held-out validation rows: "
                f"{model.n_valid_rows_:,}")
    c[1].metric("Trees used", f"{model.best_iteration_ + 1}")
    c[2].metric("Held-out AUC (pooled)", T.metric(m.get("auc")),
                help="One AUC over every held-out (user, item) pair together. Per impression, the way MIND's "
                     "leaderboard scores, is on the Evaluation page.")
    signals = getattr(model, "signals_mode", False)
    # the reason goes in the help: "— (a value, not a probability)" was cut to "— (a val…" in a narrow column
    c[3].metric("Log-loss", "—" if signals or cfg.stage2.objective.startswith("rank") else T.metric(m.get("logloss")),
                help="Log-loss needs probabilities: with five signals the score is Σ weight × prediction (a value)"
                if signals else "Log-loss needs probabilities: the ranking objective gives margins"
                if cfg.stage2.objective.startswith("rank") else None)
    c[4].metric(names.title(ev.basis), T.metric(ev.headline("stage2")),
                **T.delta(ev.headline("stage2"), ev.headline("stage1"), "stage 1"))

    t1, t2, t3 = st.tabs(["Learning curve", "Feature importance", "One user's list"])
    with t1:
        if signals:
            P.chart(viz.signal_curves(model.learning_curves(), model.trees_used()), key="lc")
            st.caption("Trees kept per signal model: " + ", ".join(
                f"{names.SIGNAL_TITLES.get(s, s)} {n}" for s, n in model.trees_used().items()) + ".")
        else:
            P.chart(viz.learning_curve(model.evals_result_, model.best_iteration_), key="lc")
    with t2:
        desc = {name: F.describe(name) for name in model.feature_names_}
        P.chart(viz.feature_importance(model.importance_, descriptions=desc,
                                               unit="share of gain" if signals else "total gain"), key="imp")
        st.caption("Share of gain, averaged over the five signal models: how much of each model's loss reduction "
                   "comes from splits on the feature." if signals else
                   "Total gain: how much each feature reduced the loss across all splits that use it.")
    with t3:
        user = C.user_picker(dataset)
        lists = {"stage1": view.stage1.lists, "stage2": s2.lists}
        table = explain.user_table(prep, lists, user)
        P.table(table.drop(columns=["item_pos"]), pin=2, height=360)
        contrib = model.contributions(prep, view.stage1.lists, user)
        if len(contrib):
            in_top = [cid for cid in table["content_id"] if cid in contrib.index][: cfg.stage2.top_n]
            chosen = st.selectbox("Why does this item score what it scores?", in_top, key="s2_item")
            row = contrib.loc[chosen]
            parts = row[model.feature_names_]
            P.chart(viz.contributions(parts, float(row["bias"]),
                                                 f"Item {chosen}: contribution of each feature to its "
                                                 + ("P(click), in log-odds" if signals else "score")),
                            key="contrib")
            values = pd.Series({n: row[f"{n}_value"] for n in model.feature_names_})
            top = parts.abs().sort_values(ascending=False).index[:5]
            st.caption("Biggest pushes: " + "; ".join(
                f"**{names.feature_title(n)}** = {values[n]:.3g} ({'+' if parts[n] >= 0 else '−'}{abs(parts[n]):.3f})"
                for n in top))
            st.caption("Contributions are SHAP values in **log-odds**: the model's score before the sigmoid, "
                       "log(p / (1 − p)). +1 multiplies the odds of engagement by e ≈ 2.7.")
        spread = np.nanstd(s2.candidate_scores[user])
        st.caption(f"Spread of stage-2 scores over this user's candidates: σ = {spread:.3f} "
                   "(the notebook's model: 0).")
