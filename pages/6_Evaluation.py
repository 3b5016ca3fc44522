"""Evaluation — every stage measured the same way, against held-out data and the world's truth."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages.ui import common as C
from pages.ui import compare, smalldata
from ranking import data, names, viz
from ranking.data import store

ctx = C.page(
    "Evaluation",
    "Each stage's list is scored the same way. **Held-out** metrics use the impressions the models never "
    "saw (NDCG, MAP, MRR, hit rate at k; AUC and log-loss of the model scores). On a generated world, "
    "**oracle NDCG** compares each list with the best list the user's *true* preferences allow — the "
    "yardstick that logging bias cannot fool. A random ordering of eligible items is the naive baseline.",
)
if ctx is not None:
    cfg = ctx.cfg
    view = ctx.view()
    if view is None:
        st.info("Train the stages (Home → Train all stages) to evaluate them.")
        st.stop()
    if smalldata.evaluation_unavailable(view):
        st.info(smalldata.evaluation_unavailable(view))
        st.stop()
    ev, k = view.evaluation, cfg.eval.k
    stages = ev.table()
    main = [names.at(b, k) for b in (["oracle_ndcg"] if ev.has_oracle else []) + ["ndcg", "map", "hit"]]
    baseline = {f"random, {names.title(ev.basis)}": ev.headline("random")}
    st.plotly_chart(viz.metrics_by_stage(stages.reset_index(), main, baseline=baseline), key="metrics")
    if ev.has_oracle:
        base, first, last = ev.headline("random"), ev.headline(stages.index[0]), ev.headline(stages.index[-1])
        st.markdown(f"**{names.title(ev.basis)}:** random {base:.3f} → {names.stage_title(stages.index[0])} "
                    f"{first:.3f} → {names.stage_title(stages.index[-1])} {last:.3f} — the learned stages close "
                    f"{(last - base) / max(1e-9, 1 - base):.0%} of the gap between random and perfect.")
        st.caption("Why can held-out NDCG fall while oracle NDCG rises? Held-out relevance only exists for "
                   "items the old feed happened to show (and, with a time split, mostly fresh ones), so it "
                   "rewards copying the logging policy. The oracle knows every item's true appeal — this "
                   "gap is exposure bias, the reason the paper recommends counterfactual evaluation.")

    st.subheader("All metrics")
    counts = [c for c in stages.columns if c.startswith("n_")]
    stages[counts] = stages[counts].astype("float64")
    shown = stages.rename(columns=names.title, index=names.stage_title)
    st.dataframe(shown.style.format(precision=4, na_rep="—").format(
        "{:,.0f}", subset=[names.title(c) for c in counts], na_rep="—"))

    t1, t2, t3 = st.tabs(["Stage to stage", "Calibration", "Compare runs"])
    with t1:
        tr = pd.DataFrame(ev.transitions).T
        if not tr.empty:
            frame = tr.reset_index(names="transition")[["transition", "improved", "unchanged", "degraded"]]
            frame["p_value"] = tr["wilcoxon_p"].to_numpy()
            st.plotly_chart(viz.improved_degraded(frame, what=f"per-user {names.title(ev.basis)}"), key="improved")
            st.dataframe(tr.rename(columns=names.title, index=names.stage_title).style.format(precision=4, na_rep="—"))
            st.caption("Kendall τ compares the order of the items both stages list; the paired Wilcoxon "
                       "signed-rank test asks whether the per-user NDCG change is more than noise.")
    with t2:
        cal = [c.assign(stage=name) for name, c in ev.calibration.items()]
        if cal:
            st.plotly_chart(viz.calibration(pd.concat(cal, ignore_index=True)), key="calib")
        else:
            st.info("Calibration needs probabilities: train stage 3, or stage 2 with binary:logistic "
                    "(rank:ndcg produces ranking margins, not probabilities).")
    with t3:
        compare.section(ctx, view, C.user_picker)

    if ev.notes:
        with st.expander(f"Where the data is too small or a metric does not apply ({len(ev.notes)})"):
            for note in ev.notes:
                st.write(f"• {note}")

    d1, d2 = st.columns(2)  # the same bytes the CLI's `run` writes (strict JSON: NaN → null)
    d1.download_button("Download metrics (JSON)",
                       lambda: data.json_bytes(store.metrics_document(ev, view.timing_s, cfg)),
                       file_name="metrics.json", mime="application/json", icon=":material/download:")
    d2.download_button("Download every user's rankings (CSV)", lambda: data.csv_bytes(view.rankings_frame()),
                       file_name="rankings.csv", mime="text/csv", icon=":material/download:")
