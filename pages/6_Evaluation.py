"""Evaluation — every stage measured the same way, against held-out data and the world's truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import streamlit as st

from pages.ui import common as C
from pages.ui import state as S
from ranking import viz
from ranking.pipeline import rankings_frame

ctx = C.page(
    "Evaluation",
    "Each stage's list is scored the same way. **Held-out** metrics use the impressions the models never "
    "saw (NDCG, MAP, MRR, hit rate at k; AUC and log-loss of the model scores). On a generated world, "
    "**oracle NDCG** compares each list with the best list the user's *true* preferences allow — the "
    "yardstick that logging bias cannot fool. A random ordering of eligible items is the naive baseline.",
)
if ctx is not None:
    dataset, data_key, cfg = ctx
    view = S.view(dataset, data_key, cfg)
    if view is None:
        st.info("Train the stages (Home → Train all stages) to evaluate them.")
        st.stop()
    ev, k = view.evaluation, cfg.eval.k
    stages = pd.DataFrame(ev["stages"]).T.apply(pd.to_numeric, errors="coerce")
    stages.index.name = "stage"
    has_truth = dataset.truth is not None
    main = [f"oracle_ndcg@{k}"] if has_truth else []
    main += [f"ndcg@{k}", f"map@{k}", f"hit@{k}"]
    baseline = {"oracle NDCG": ev["baseline"].get(f"oracle_ndcg@{k}")} if has_truth else {
        "NDCG": ev["baseline"].get(f"ndcg@{k}")}
    st.plotly_chart(viz.metrics_by_stage(stages.reset_index(), main, baseline=baseline), key="metrics")
    if has_truth:
        best = stages[f"oracle_ndcg@{k}"].iloc[-1]
        base = ev["baseline"].get(f"oracle_ndcg@{k}", float("nan"))
        first = stages[f"oracle_ndcg@{k}"].iloc[0]
        st.markdown(f"**Oracle NDCG@{k}:** random {base:.3f} → stage 1 {first:.3f} → "
                    f"{stages.index[-1]} {best:.3f} — the learned stages close "
                    f"{(best - base) / max(1e-9, 1 - base):.0%} of the gap between random and perfect.")

        st.caption("Why can held-out NDCG fall while oracle NDCG rises? Held-out relevance only exists for "
                   "items the old feed happened to show (and, with a time split, mostly fresh ones), so it "
                   "rewards copying the logging policy. The oracle knows every item's true appeal — this "
                   "gap is exposure bias, the reason the paper recommends counterfactual evaluation.")

    st.subheader("All metrics")
    counts = [c for c in stages.columns if c.startswith("n_")]
    stages[counts] = stages[counts].astype("float64")
    st.dataframe(stages.style.format(precision=4, na_rep="—").format("{:,.0f}", subset=counts, na_rep="—"))

    t1, t2, t3 = st.tabs(["Stage to stage", "Calibration", "Compare runs"])
    with t1:
        tr = pd.DataFrame(ev["transitions"]).T
        if not tr.empty:
            frame = tr.reset_index(names="transition")[["transition", "improved", "unchanged", "degraded"]]
            frame["p_value"] = tr["wilcoxon_p"].to_numpy()
            st.plotly_chart(viz.improved_degraded(frame, what=f"per-user {tr['basis'].iloc[0]}"),
                            key="improved")
            st.dataframe(tr.style.format(precision=4, na_rep="—"))
            st.caption("Kendall τ compares the order of the items both stages list; the paired Wilcoxon "
                       "signed-rank test asks whether the per-user NDCG change is more than noise.")
    with t2:
        cal = [pd.DataFrame(rows).assign(stage=name) for name, rows in ev["calibration"].items()]
        if cal:
            st.plotly_chart(viz.calibration(pd.concat(cal, ignore_index=True)), key="calib")
        else:
            st.info("Calibration needs probabilities: train stage 3, or stage 2 with binary:logistic "
                    "(rank:ndcg produces ranking margins, not probabilities).")
    with t3:
        current = {m: float(v) for m, v in stages.iloc[-1].items() if isinstance(v, float | np.floating)}
        c1, c2 = st.columns(2)
        if c1.button("Pin this run as A", icon=":material/push_pin:", key="pin"):
            S.lab().pinned = {"metrics": current, "stage": str(stages.index[-1]),
                              "config": cfg.to_dict()}
        pinned = S.lab().pinned
        if pinned is not None:
            c2.caption(f"A = pinned run ({pinned['stage']}), B = the current settings ({stages.index[-1]}).")
            names = [m for m in main if m in pinned["metrics"] and m in current]
            st.plotly_chart(viz.compare_runs({m: pinned["metrics"][m] for m in names},
                                                {m: current[m] for m in names}, names=("A (pinned)", "B (now)")),
                            key="compare")
            diff = {f"{sec}.{key}": (a_val, cfg.to_dict()[sec][key])
                    for sec, part in pinned["config"].items() if isinstance(part, dict)
                    for key, a_val in part.items() if cfg.to_dict()[sec][key] != a_val}
            if diff:
                st.write("Settings that differ: " + "; ".join(f"`{k}` {a} → {b}" for k, (a, b) in diff.items()))
        else:
            st.caption("Pin a run, change a setting and retrain, then compare.")

    if ev["notes"]:
        with st.expander(f"Where the data is too small or a metric does not apply ({len(ev['notes'])})"):
            for note in ev["notes"]:
                st.write(f"• {note}")

    lists = {name: r.lists for name, r in view.results.items()}
    if view.post is not None:
        lists["final"] = view.post.lists
    metrics_json = json.dumps({"stages": ev["stages"], "transitions": ev["transitions"],
                               "baseline": ev["baseline"], "notes": ev["notes"], "config": cfg.to_dict()},
                              indent=2, default=float)
    d1, d2 = st.columns(2)
    d1.download_button("Download metrics (JSON)", metrics_json, file_name="metrics.json",
                       mime="application/json", icon=":material/download:")
    d2.download_button("Download every user's rankings (CSV)",
                       lambda: rankings_frame(view.prep, lists).to_csv(index=False).encode(),
                       file_name="rankings.csv", mime="text/csv", icon=":material/download:")
