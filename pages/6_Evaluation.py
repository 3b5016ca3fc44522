"""Evaluation — every stage measured the same way, against held-out data and the world's truth."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages.ui import common as C
from pages.ui import compare, smalldata
from pages.ui import present as P
from pages.ui.seeds import current_study, curve_section, seed_section
from ranking import data, names, viz
from ranking.data import store
from ranking.evaluation.summary import (
    baseline_sentence,
    counterfactual_caption,
    counterfactual_frame,
    difference_frame,
    impression_caption,
    impression_frame,
    impression_references,
    impression_verdicts,
    separation_sentences,
)
from ranking.prep.impressions import describe_split

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
    baseline = {m: ev.baseline[m] for m in main if m in ev.baseline}  # random order, beside each metric
    P.chart(viz.metrics_by_stage(stages.reset_index(), main, baseline=baseline), key="metrics")
    if ev.has_oracle:
        base, first, last = ev.headline("random"), ev.headline(stages.index[0]), ev.headline(stages.index[-1])
        st.markdown(f"**{names.title(ev.basis)}:** random {base:.3f} → {names.stage_title(stages.index[0])} "
                    f"{first:.3f} → {names.stage_title(stages.index[-1])} {last:.3f} — the learned stages close "
                    f"{(last - base) / max(1e-9, 1 - base):.0%} of the gap between random and perfect.")
        st.caption("Why can held-out NDCG fall while oracle NDCG rises? Held-out relevance only exists for "
                   "items the old feed happened to show (and, with a time split, mostly fresh ones), so it "
                   "rewards copying the logging policy. The oracle knows every item's true appeal — this "
                   "gap is exposure bias, the reason the paper recommends counterfactual evaluation.")

    st.header("Per impression: the official MIND metrics")
    st.caption("Split: " + describe_split(view.prep, cfg.split) + ".")
    imp = ev.impressions
    if imp.get("available"):
        P.chart(viz.impression_metrics(imp["lists"]), key="impressions")
        for sentence in impression_verdicts(imp):
            st.markdown(f"**{sentence}**")
        P.table(impression_frame(imp))
        st.caption(impression_caption(imp))
        for line in impression_references(imp):
            st.markdown(line)
    else:
        st.info("Per-impression metrics unavailable: " + (imp.get("reason") or "this run predates them") + ".")

    st.header("All metrics")
    counts = [c for c in stages.columns if c.startswith("n_")]
    stages[counts] = stages[counts].astype("Int64")  # counts print as whole numbers with separators
    P.table(stages.rename(index=names.stage_title), index=True)

    t1, t2, t3 = st.tabs(["Stage to stage", "Calibration", "Compare runs"])
    with t1:
        tr = pd.DataFrame(ev.transitions).T
        if not tr.empty:
            frame = tr.reset_index(names="transition")[["transition", "improved", "unchanged", "degraded"]]
            frame["p_value"] = tr["wilcoxon_p"].to_numpy()
            P.chart(viz.improved_degraded(frame, what=f"per-user {names.title(ev.basis)}"), key="improved")
            P.table(tr.rename(index=names.stage_title).rename_axis("transition"), index=True)
            st.caption("Kendall τ compares the order of the items both stages list. The p-value is a paired "
                       "Wilcoxon test over users for this one training run: it counts users as the only noise, "
                       "so it is not the verdict — the seed check below is.")
        seed_section(ctx)
    with t2:
        cal = [c.assign(stage=name) for name, c in ev.calibration.items()]
        if cal:
            P.chart(viz.calibration(pd.concat(cal, ignore_index=True)), key="calib")
            st.caption("**ECE** (expected calibration error): the average gap between the predicted probability "
                       "and the observed positive rate, over bins of predictions weighted by their size. 0 = a "
                       "predicted 30% happens 30% of the time.")
        else:
            st.info("Calibration needs predicted probabilities, and no trained stage gives them here: with "
                    "\"Stages 2 and 3 learn\" set to five signals a score is Σ weight × prediction (a value), and "
                    "the Ranking objective gives margins. Set it to the compound label with the Probability "
                    "objective and retrain to see calibration.")
    with t3:
        compare.section(ctx, view, C.user_picker)

    st.header("Do the learned stages beat simple baselines?")
    st.caption("Popularity by click count and by smoothed click-through rate; stated topic affinity + quality "
               "score (nothing fitted); the same minus a fitted penalty per day of age (freshness); a per-signal "
               "GLM (logistic and Poisson regressions on transparent features, combined with the current "
               "weights); a logistic regression on stage 2's features. Each is scored with exactly the same "
               "metric code as the stages; lines are the baselines' values of the metric on the same axis.")
    for key in [names.at(b, k) for b in (["oracle_ndcg"] if ev.has_oracle else []) + ["ndcg"]]:
        P.chart(viz.baselines_vs_stages({s: ev.value(s, key.split("@")[0]) for s in ev.stages},
                                        ev.reference_values(key), key), key=f"baselines_{key}")
    if ev.has_oracle and ev.baselines:
        st.markdown(f"**{baseline_sentence(ev, 'the seed check’s verdict (Stage to stage tab)')}**")
    for note in [n for n in ev.notes if n.startswith(("Freshness heuristic:", "Stage 3 passes"))]:
        st.caption(note)
    curve_section(ctx)

    st.header("Counterfactual estimates from the logged propensities")
    cf = ev.counterfactual
    if cf.get("available"):
        if ev.has_oracle:
            P.chart(viz.estimator_agreement(ev.yardsticks(), cf.get("agreement", {}), ev.yardstick_intervals()),
                    key="cf_agree")
            # two different τ: the legend (stages only) and this caption (every list) disagreed with nothing saying why
            st.caption("Error bars: 95 % intervals from resampling users, on the same rescaled axis. The legend's τ "
                       "orders the stages only; over every list, baselines included, Kendall τ against the truth "
                       "is: " + ", ".join(
                           f"{names.title(key)} {tau:+.2f}" for key, tau in cf.get("agreement_all", {}).items()
                           if tau == tau) + ".")
        for sentence in separation_sentences(cf):
            st.markdown(f"**{sentence}**")
        P.table(difference_frame(cf))
        P.table(counterfactual_frame(ev))
        st.caption(counterfactual_caption(cf))
    else:
        st.info("Counterfactual estimates unavailable: " + (cf.get("reason") or "no held-out impressions."))

    st.header("Beyond accuracy")
    P.chart(viz.beyond_accuracy({**ev.stages, **ev.baselines}, k), key="beyond")
    st.caption("Topic calibration (Steck 2018) compares the topics of a user's engaged history with the feed's "
               "topics (KL divergence, 0 = same mix). It is not probability calibration (ECE), which asks "
               "whether predicted click probabilities come true.")

    if ev.notes:
        with st.expander(f"Where the data is too small or a metric does not apply ({len(ev.notes)})"):
            for note in ev.notes:
                st.write(f"• {note}")

    _seeds = None if (study := current_study(ctx)) is None else study.to_document()
    d1, d2 = st.columns(2)  # the same bytes the CLI's `run` writes (strict JSON: NaN → null)
    d1.download_button("Download metrics (JSON)",
                       lambda: data.json_bytes(store.metrics_document(ev, view.timing_s, cfg, seeds=_seeds)),
                       file_name="metrics.json", mime="application/json", icon=":material/download:")
    d2.download_button("Download every user's rankings (CSV)", lambda: data.csv_bytes(view.rankings_frame()),
                       file_name="rankings.csv", mime="text/csv", icon=":material/download:")
