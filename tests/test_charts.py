"""Dashboard charts: every figure is styled for the projector, has the right marks, and survives edge cases."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from ranking import viz as C
from ranking.errors import DataError
from ranking.viz import stage_charts as CS
from ranking.viz import style as ST

EMPTY = ST.EMPTY_MESSAGE
STAGES = ["stage1", "stage2", "stage3", "final"]


# ---------------------------------------------------------------- small inputs

def _ranks(n1: int = 6, with_final: bool = True) -> pd.DataFrame:
    """Items 1..n1 in stage 1 (rank = id); 1..4 reach stage 2 reversed; 2, 3, 4 reach stage 3; 3, 4, 2 final."""
    rows = [(i, "stage1", i) for i in range(1, n1 + 1)]
    rows += [(i, "stage2", r) for r, i in enumerate([4, 3, 2, 1], start=1)]
    rows += [(i, "stage3", r) for r, i in enumerate([2, 3, 4], start=1)]
    if with_final:
        rows += [(i, "final", r) for r, i in enumerate([3, 4, 2], start=1)]
    df = pd.DataFrame(rows, columns=["content_id", "stage", "rank"])
    df["stage"] = pd.Categorical(df["stage"], categories=STAGES, ordered=True)
    df["topic"] = np.where(df["content_id"] % 2 == 0, "sports", "politics")
    df["publisher"] = "pub_" + df["content_id"].astype(str)
    df["score"] = 1.0 / df["rank"]
    return df


def _evals(n: int = 5) -> dict:
    return {"validation_0": {"logloss": list(np.linspace(0.7, 0.3, n)), "auc": list(np.linspace(0.6, 0.9, n))},
            "validation_1": {"logloss": list(np.linspace(0.72, 0.4, n)), "auc": list(np.linspace(0.58, 0.8, n))}}


def _flows() -> pd.DataFrame:
    return pd.DataFrame({
        "source": ["Catalog", "Catalog", "Candidates", "Candidates", "Catalog"],
        "target": ["Candidates", "Ineligible (region)", "Stage 2 top N", "Dropped at stage 2", "Nowhere"],
        "value": [35.0, 65.0, 20.0, 15.0, 0.0],
    })


def _calibration_bins() -> pd.DataFrame:
    return pd.DataFrame({"stage": ["stage2", "stage2", "stage3", "stage3"],
                         "mean_predicted": [0.2, 0.8, 0.25, 0.7], "observed_rate": [0.1, 0.9, 0.25, 0.6],
                         "count": [100, 300, 50, 50]})


def _metrics() -> pd.DataFrame:
    return pd.DataFrame({"stage": ["final", "stage1", "stage2"], "ndcg@10": [0.5, 0.3, 0.45],
                         "map@10": [0.4, 0.2, np.nan]})


def _sweep() -> pd.DataFrame:
    frame = pd.DataFrame({"lambda": [0.0, 0.1, 0.2], "relevance": [0.5, 0.55, 0.6], "diversity": [0.7, 0.6, 0.4]})
    frame.attrs.update(relevance="oracle_ndcg@10", diversity="diversity@10")
    return frame


def _data_curve(empty: bool = False):
    from ranking.curve import LearningCurve

    shares = (0.1, 1.0)
    row = {} if empty else {"final": 0.6, "glm": 0.55}
    return LearningCurve("oracle_ndcg@10", shares, (1, 2), {s: {1: dict(row), 2: dict(row)} for s in shares})


SAMPLES = {  # name → (figure, expected number of traces)
    "score_histogram": (lambda: C.score_histogram(np.array([2.62, 3.75, 1.255, -1.0, 0.16]),
                                                  np.array([1, 1, 0, 0, 0]), 2.0), 2),
    "funnel": (lambda: C.funnel({"Catalog": 300, "Eligible": 231.4, "Stage 1 candidates": 35,
                                 "Stage 2 top N": 20, "Final": 10}), 1),
    "stage_timing": (lambda: C.stage_timing({"stage1": 0.5, "stage2": 1.5, "total": 2.0}), 1),
    "recall_at_k": (lambda: C.recall_at_k(pd.DataFrame({"k": [10, 20, 10, 20], "recall": [0.2, 0.4, 0.3, 0.5],
                                                        "source": ["topic", "topic", "cf", "cf"]}),
                                          current_k=20), 2),
    "learning_curve": (lambda: C.learning_curve(_evals(), best_iteration=3), 6),
    # two signal models, two stars where early stopping kept their trees
    "signal_curves": (lambda: C.signal_curves({"p_click": [0.5, 0.4, 0.41], "e_dwell": [9.0, 8.0, 7.9]},
                                              {"p_click": 2, "e_dwell": 3}), 4),
    "feature_importance": (lambda: C.feature_importance(pd.Series({"a": 3.0, "b": 1.0, "c": 2.0})), 1),
    "contributions": (lambda: C.contributions(pd.Series({"a": 0.5, "b": -0.2}), -1.0, "Why item 7"), 1),
    "loss_curve": (lambda: C.loss_curve({"loss": [0.7, 0.6], "val_loss": [0.69, 0.65]}), 3),
    "compare_runs": (lambda: C.compare_runs({"ndcg@10": 0.4}, {"ndcg@10": 0.45}), 2),
    "bump_chart": (lambda: C.bump_chart(_ranks()), 6),
    "sankey": (lambda: C.sankey(_flows()), 1),
    "kendall_tau_hist": (lambda: C.kendall_tau_hist({"stage1→stage2": np.array([0.1, 0.5, 0.9]),
                                                     "stage2→stage3": np.array([0.2, 0.4])}), 2),
    "metrics_by_stage": (lambda: C.metrics_by_stage(_metrics(), ["ndcg@10", "map@10"]), 2),
    "tradeoff_curve": (lambda: C.tradeoff_curve(_sweep(), current=(0.5, 0.6, "current setting")), 2),
    "calibration": (lambda: C.calibration(_calibration_bins()), 3),
    "improved_degraded": (lambda: C.improved_degraded(pd.DataFrame(
        {"transition": ["stage1→stage2"], "improved": [0.5], "unchanged": [0.2], "degraded": [0.3]})), 3),
    "baselines_vs_stages": (lambda: C.baselines_vs_stages({"stage2": 0.5, "final": 0.6},
                                                          {"heuristic": 0.55, "random": 0.3}, "oracle_ndcg@10"), 3),
    "estimator_agreement": (lambda: C.estimator_agreement(
        {"oracle": {"stage1": 0.3, "stage2": 0.5}, "ips": {"stage1": 0.2, "stage2": 0.1}}, {"ips": -1.0}), 2),
    "beyond_accuracy": (lambda: C.beyond_accuracy({"stage2": {"novelty@10": 7.0}, "popularity": {}}, 10), 5),
    "impression_metrics": (lambda: C.impression_metrics(
        {n: {**{m: 0.6 for m in ("auc", "mrr", "ndcg@5", "ndcg@10")}, **{f"{m}_low": 0.5 for m in
             ("auc", "mrr", "ndcg@5", "ndcg@10")}, **{f"{m}_high": 0.7 for m in ("auc", "mrr", "ndcg@5", "ndcg@10")}}
         for n in ("stage2", "smoothed_ctr", "random")}), 3),
    "data_curve": (lambda: C.data_curve(_data_curve()), 4),  # a band and a line for each of two lists
}

EMPTY_INPUTS = {
    "score_histogram": lambda: C.score_histogram(np.array([]), np.array([]), 2.0),
    "funnel": lambda: C.funnel({}),
    "stage_timing": lambda: C.stage_timing({}),
    "recall_at_k": lambda: C.recall_at_k(pd.DataFrame(columns=["k", "recall", "source"])),
    "learning_curve": lambda: C.learning_curve({"validation_0": {"logloss": []}}),
    "signal_curves": lambda: C.signal_curves({"p_click": []}),
    "feature_importance": lambda: C.feature_importance(pd.Series(dtype=float)),
    "contributions": lambda: C.contributions(pd.Series(dtype=float), 0.0, "Why item 7"),
    "loss_curve": lambda: C.loss_curve({}),
    "compare_runs": lambda: C.compare_runs({}, {}),
    "bump_chart": lambda: C.bump_chart(pd.DataFrame(columns=["content_id", "stage", "rank"])),
    "sankey": lambda: C.sankey(pd.DataFrame(columns=["source", "target", "value"])),
    "kendall_tau_hist": lambda: C.kendall_tau_hist({}),
    "metrics_by_stage": lambda: C.metrics_by_stage(pd.DataFrame(columns=["stage", "ndcg@10"]), ["ndcg@10"]),
    "tradeoff_curve": lambda: C.tradeoff_curve(pd.DataFrame({"lambda": [0.5], "relevance": [np.nan],
                                                             "diversity": [0.3]})),
    "calibration": lambda: C.calibration(pd.DataFrame(columns=["stage", "mean_predicted", "observed_rate", "count"])),
    "improved_degraded": lambda: C.improved_degraded(
        pd.DataFrame(columns=["transition", "improved", "unchanged", "degraded"])),
    "baselines_vs_stages": lambda: C.baselines_vs_stages({}, {}, "ndcg@10"),
    "data_curve": lambda: C.data_curve(_data_curve(empty=True)),
    "estimator_agreement": lambda: C.estimator_agreement({}, {}),
    "beyond_accuracy": lambda: C.beyond_accuracy({}, 10),
    "impression_metrics": lambda: C.impression_metrics({}),
}


def _strict_json(fig: go.Figure) -> dict:
    """The figure's JSON as a browser's JSON.parse reads it: NaN or Infinity in it is an error."""
    def refuse(constant: str):
        raise ValueError(f"{constant} in the figure JSON")
    return json.loads(fig.to_json(), parse_constant=refuse)


def _notes(fig: go.Figure) -> list[str]:
    return [a.text for a in fig.layout.annotations]


def _trace(fig: go.Figure, content_id: int) -> go.Scatter:
    return next(t for t in fig.data if t.meta == content_id)


# ---------------------------------------------------------------- shared contract

def test_every_chart_is_covered():
    public = set(C.__all__) - {"STAGE_COLORS", "PALETTE"}
    assert public == set(SAMPLES) == set(EMPTY_INPUTS)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_projector_style_and_trace_count(name):
    fig, n_traces = SAMPLES[name][0](), SAMPLES[name][1]
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == n_traces
    assert fig.layout.title.text
    assert fig.layout.title.font.size >= 20
    assert fig.layout.font.size >= 15
    assert fig.layout.height
    assert fig.layout.height >= 300
    assert fig.layout.template == pio.templates["plotly_white"]
    assert fig.layout.margin.l
    assert fig.layout.margin.t
    assert EMPTY not in _notes(fig)
    for t in fig.data:  # every mark explains itself on hover
        assert t.type == "sankey" or t.hovertemplate or t.hoverinfo == "skip"
    if fig.data[0].type != "sankey":  # Sankey has no axes; every other chart labels both
        axes = [fig.layout[k] for k in fig.layout if k.startswith(("xaxis", "yaxis"))]
        assert any(a.title.text for a in axes if a.plotly_name.startswith("x"))
        # a y axis shared with the panel on its left (matches=…, no tick labels) is named there
        assert all(a.title.text for a in axes if a.plotly_name.startswith("y") and not a.matches)
    spec = _strict_json(fig)  # serialisable without kaleido, and valid JSON for the browser
    assert spec["layout"]["title"]["text"] == fig.layout.title.text


@pytest.mark.parametrize("name", sorted(EMPTY_INPUTS))
def test_empty_input_gives_a_placeholder(name):
    fig = EMPTY_INPUTS[name]()
    assert isinstance(fig, go.Figure)
    assert fig.layout.title.text
    assert EMPTY in _notes(fig)
    assert EMPTY in [a["text"] for a in _strict_json(fig)["layout"]["annotations"]]


def test_module_hygiene():
    assert set(C.STAGE_COLORS) == set(STAGES)
    assert set(C.STAGE_COLORS.values()) <= set(C.PALETTE)  # Okabe–Ito only
    assert C.bump_chart is CS.bump_chart
    assert C.funnel is CS.funnel
    with pytest.raises(AttributeError):
        _ = C.no_such_chart
    before = pio.templates.default
    for make, _ in SAMPLES.values():
        make()
    assert pio.templates.default == before  # no global plotly state touched
    for path in ("ranking/viz/charts.py", "ranking/viz/stage_charts.py", "ranking/viz/style.py"):
        with open(path, encoding="utf-8") as fh:
            src = fh.read()
        assert "streamlit" not in src.split('"""', 2)[2]
        assert ".show(" not in src


# ---------------------------------------------------------------- individual charts

def test_score_histogram_counts_threshold_and_flips():
    s = np.array([2.62, 3.75, 1.255, -1.0, 0.16, np.nan])
    fig = C.score_histogram(s, s > 2.0, 2.0, reference_labels=s > 1.0)
    pos, neg = fig.data
    assert sum(pos.y) == 2  # 2.62, 3.75
    assert sum(neg.y) == 3  # 1.255, -1.0, 0.16 (NaN dropped)
    assert "2 of 5 positive (40.0%)" in fig.layout.title.text
    assert "1 labels differ" in fig.layout.title.text
    assert "0 newly positive, 1 newly negative" in fig.layout.title.text
    assert "threshold = 2.0" in _notes(fig)
    assert fig.layout.shapes[0].x0 == 2.0
    assert fig.layout.shapes[0].line.dash == "dash"
    width = pos.width
    edges = np.concatenate([np.asarray(pos.x) - width / 2, [pos.x[-1] + width / 2]])
    assert np.isclose(edges, 2.0).any()  # the threshold is a bin edge
    assert width == pytest.approx((3.75 - -1.0) / 40)
    for trace, values in ((pos, [2.62, 3.75]), (neg, [1.255, -1.0, 0.16])):  # counts by hand, per bin
        by_hand = [sum(lo <= v < hi for v in values) for lo, hi in itertools.pairwise(edges)]
        assert list(trace.y) == by_hand
    assert not any(lo < 2.0 < hi for lo, hi in itertools.pairwise(edges))  # no bar mixes labels
    assert fig.layout.barmode == "stack"


def test_funnel_values_and_share_of_previous():
    fig = C.funnel({"Catalog": 300, "Eligible": 231.4, "Broken": math.nan, "Final": 10})
    f = fig.data[0]
    assert list(f.y) == ["Catalog", "Eligible", "Final"]
    assert list(f.x) == [300, 231.4, 10]
    assert f.text[1] == "231<br>77% kept"  # 3 significant digits; 231.4 / 300 = 0.771
    assert f.text[2].endswith("<br>4% kept")  # 10 / 231.4 = 0.043
    assert f.customdata[1][1] == "77% of the previous step"


def test_stage_timing_skips_total():
    fig = C.stage_timing({"stage1": 0.5, "stage2": 1.5, "total": 2.0})
    assert list(fig.data[0].x) == [0.5, 1.5]
    assert list(fig.data[0].text) == ["500 ms", "1.50 s"]
    assert "total 2.00 s" in fig.layout.title.text
    assert fig.data[0].marker.color == (C.STAGE_COLORS["stage1"], C.STAGE_COLORS["stage2"])


def test_recall_at_k_marks_current_k_and_drops_nan():
    frame = pd.DataFrame({"k": [10, 20, 30], "recall": [0.2, np.nan, 0.5], "source": ["blend"] * 3})
    fig = C.recall_at_k(frame, current_k=20)
    assert list(fig.data[0].x) == [10, 30]
    assert fig.layout.shapes[0].x0 == 20
    assert "current K = 20" in _notes(fig)
    assert len(C.recall_at_k(frame.iloc[:1]).data[0].x) == 1  # a single point still draws


def test_learning_curve_names_sets_and_marks_best():
    ev = _evals()
    fig = C.learning_curve(ev, best_iteration=3)
    assert {t.name for t in fig.data} == {"train", "validation", "best iteration"}
    stars = [t for t in fig.data if t.name == "best iteration"]
    assert [t.y[0] for t in stars] == [ev["validation_1"]["logloss"][3], ev["validation_1"]["auc"][3]]
    assert sum(t.showlegend is not False for t in fig.data) == 3  # one legend entry per kind
    assert fig.layout.yaxis.title.text == "Log-loss (lower is better)"  # display names, not XGBoost keys
    assert fig.layout.yaxis2.title.text == "Pooled AUC (higher is better)"  # over every row, not per impression
    assert len(C.learning_curve(ev, best_iteration=3, metric="auc").data) == 3
    assert len(C.learning_curve(ev, best_iteration=99).data) == 4  # out of range: no star
    with pytest.raises(ValueError, match="valid: logloss, auc"):
        C.learning_curve(ev, metric="ndcg")
    one = C.learning_curve({"validation_0": {"logloss": [0.6]}})
    assert [t.name for t in one.data] == ["validation"]
    assert len(one.data[0].y) == 1


def test_feature_importance_sorted_top_with_descriptions():
    imp = pd.Series({"affinity_sports": 1.0, "quality": 4.0, "age_hours": np.nan, "cf": 3.0, "x": 2.0})
    fig = C.feature_importance(imp, top=3, descriptions={"quality": "Item quality.", "affinity_*": "Stated."})
    bar = fig.data[0]
    assert list(bar.y) == ["Quality score (0–1)", "cf", "x"]  # display names; unknown names as they are
    assert list(bar.x) == [4.0, 3.0, 2.0]
    assert bar.customdata[0][0] == pytest.approx(4.0 / 10.0)
    assert bar.customdata[0][1] == "Item quality."
    assert "top 3 of 4" in fig.layout.title.text
    wild = C.feature_importance(imp, top=4, descriptions={"affinity_*": "Stated."}).data[0]
    assert wild.customdata[3][1] == "Stated."
    assert fig.layout.yaxis.autorange == "reversed"  # largest at the top


def test_contributions_waterfall_from_bias_to_margin():
    contrib = pd.Series({"a": 0.5, "b": -0.2, "c": 0.05, "d": np.nan})
    fig = C.contributions(contrib, -1.0, "Why item 7", top=2)
    w = fig.data[0]
    assert list(w.y) == ["bias (average)", "a", "b", "other (1 features)", "final margin"]
    assert list(w.measure) == ["absolute", "relative", "relative", "relative", "total"]
    assert w.x[-1] == pytest.approx(-1.0 + 0.5 - 0.2 + 0.05)
    assert "margin -0.650" in fig.layout.title.text


def test_loss_curve_partial_and_single_epoch():
    fig = C.loss_curve({"loss": [0.7, 0.6, 0.65], "val_loss": [0.69, 0.62, 0.66], "val_auc": [0.6, 0.7, 0.65]})
    assert len(fig.data) == 4  # loss train/val, auc val, best epoch
    star = fig.data[-1]
    assert star.name == "best epoch"
    assert list(star.x) == [2]
    assert fig.layout.yaxis2.title.text == "Pooled AUC (higher is better)"  # over every row, not per impression
    one = C.loss_curve({"loss": [0.7], "val_loss": []})
    assert len(one.data) == 1
    assert list(one.data[0].x) == [1]
    assert "1 epoch" in one.layout.title.text
    assert "markers" in one.data[0].mode


def test_compare_runs_differences_and_missing_metrics():
    fig = C.compare_runs({"ndcg@10": 0.40, "map@10": 0.30}, {"ndcg@10": 0.45, "auc": 0.7}, names=("pinned", "now"))
    a, b = fig.data
    assert (a.name, b.name) == ("pinned", "now")
    assert list(a.x) == ["ndcg@10", "map@10", "auc"]
    assert math.isnan(a.y[2])
    assert math.isnan(b.y[1])
    assert b.text[0] == "0.45 (+0.05)"


# ---------------------------------------------------------------- bump chart

def test_bump_chart_shape_exits_and_hover():
    fig = C.bump_chart(_ranks())
    y = fig.layout.yaxis
    assert y.range[0] > y.range[1]  # rank 1 at the top
    assert list(fig.layout.xaxis.ticktext) == ["Stage 1<br>candidates", "Stage 2<br>XGBoost",
                                               "Stage 3<br>neural", "Final"]
    assert list(_trace(fig, 5).marker.symbol) == ["x"]  # in stage 1, not in stage 2
    assert list(_trace(fig, 1).marker.symbol) == ["circle", "x"]  # dropped before stage 3
    assert list(_trace(fig, 3).marker.symbol) == ["circle"] * 4
    assert list(_trace(fig, 3).y) == [3, 2, 2, 1]
    assert sum(t.showlegend is not False for t in fig.data) == 2  # one legend entry per topic
    hover = _trace(fig, 3).customdata[1]
    assert list(hover[:3]) == ["3", "politics", "pub_3"]
    assert hover[3] == "0.500"
    assert "rank 2" in hover[5]


def test_bump_chart_highlight_is_wider_and_on_top():
    fig = C.bump_chart(_ranks(), highlight=4)
    hi = _trace(fig, 4)
    assert hi.line.width > max(t.line.width for t in fig.data if t.meta != 4)
    assert fig.data[-1].meta == 4
    assert any("item 4" in n for n in _notes(fig))


def test_bump_chart_caps_items_and_keeps_highlight():
    fig = C.bump_chart(_ranks(n1=60), max_items=5, n_exits=2)
    assert {t.meta for t in fig.data} == {3, 4, 2, 5, 6}  # 3 furthest-reaching + 2 best exits
    capped = C.bump_chart(_ranks(n1=60), max_items=5, n_exits=2, highlight=60)
    assert len(capped.data) == 6
    assert capped.data[-1].meta == 60
    assert "showing 5 of 60 items" in fig.layout.title.text


def test_bump_chart_only_stages_present_and_partial_columns():
    df = _ranks(with_final=False)[["content_id", "stage", "rank"]]  # categories include 'final', no rows
    fig = C.bump_chart(df)
    assert len(fig.layout.xaxis.ticktext) == 3
    assert list(_trace(fig, 2).marker.symbol) == ["circle"] * 3  # the last stage shown is not an exit
    assert _trace(fig, 2).customdata[0][1] == "—"


def test_bump_chart_marks_late_entries_and_ignores_unknown_highlight():
    df = pd.concat([_ranks(), pd.DataFrame({"content_id": [99], "stage": ["final"], "rank": [4]})])
    df["stage"] = pd.Categorical(df["stage"], categories=STAGES, ordered=True)
    fig = C.bump_chart(df, highlight=12345)  # not in the data: no highlight, nothing dims
    assert list(_trace(fig, 99).marker.symbol) == ["diamond"]
    assert "new at this stage" in _trace(fig, 99).customdata[0][5]
    assert {t.line.width for t in fig.data} == {2.5}
    assert "◆ = new at this stage" in fig.layout.title.text


def test_bump_chart_nan_ranks_single_point_and_one_user():
    df = _ranks().astype({"rank": float})
    df.loc[df["content_id"] == 6, "rank"] = np.nan
    assert 6 not in {t.meta for t in C.bump_chart(df).data}
    nullable = pd.DataFrame({"content_id": ["a", "b", "a", "b"], "stage": ["stage1", "stage1", "stage2", "stage2"],
                             "rank": pd.array([1, 2, 1, None], dtype="Int64")})
    assert [list(t.marker.symbol) for t in C.bump_chart(nullable).data] == [["circle", "circle"], ["x"]]
    single = C.bump_chart(pd.DataFrame({"content_id": [9], "stage": ["stage1"], "rank": [1]}))
    assert len(single.data) == 1
    assert list(single.data[0].marker.symbol) == ["circle"]
    two_users = _ranks().assign(user_id=[1, 2] * (len(_ranks()) // 2))
    with pytest.raises(DataError, match="one user"):
        C.bump_chart(two_users)


# ---------------------------------------------------------------- stage-flow charts

def test_sankey_nodes_links_and_counts():
    s = C.sankey(_flows()).data[0]
    # zero flow dropped; long labels on two lines so neighbouring columns do not overlap
    assert list(s.node.label) == ["Catalog (100)", "Candidates (35)", "Ineligible<br>(region) (65)",
                                  "Stage 2 top N (20)", "Dropped at stage<br>2 (15)", ""]
    assert list(s.link.value) == [35.0, 65.0, 20.0, 15.0, 20.0, 15.0]
    # the last column flows on into an invisible node, so Plotly writes its labels right of the nodes
    assert list(s.link.target[-2:]) == [5, 5]
    assert s.node.color[5] == s.link.color[-1] == "rgba(0,0,0,0)"
    assert s.node.color[2] == ST.NEUTRAL
    assert s.node.color[4] == ST.NEUTRAL
    assert s.node.color[0] != ST.NEUTRAL


def test_kendall_tau_median_and_nan():
    taus = {"stage1→stage2": np.array([-0.2, 0.4, 0.6, np.nan]), "stage2->stage3": np.array([np.nan])}
    fig = C.kendall_tau_hist(taus)
    assert len(fig.data[0].x) == 3
    assert len(fig.data[1].x) == 0
    assert fig.layout.shapes[0].x0 == pytest.approx(0.4)
    notes = _notes(fig)
    assert "Stage 1 → Stage 2: n = 3, median τ = 0.40" in notes
    assert "Stage 2 → Stage 3: n = 0 (no users)" in notes
    assert tuple(fig.layout.xaxis.range) == (-1.05, 1.05)


def test_metrics_by_stage_order_labels_and_baseline():
    fig = C.metrics_by_stage(_metrics(), ["ndcg@10", "map@10"], baseline={"ndcg@10": 0.2})
    ndcg, mapk = fig.data
    assert (ndcg.name, mapk.name) == ("NDCG@10", "MAP@10")  # display names, not keys
    # the baseline is its own hatched group, never a line across metrics on other scales
    assert list(ndcg.x) == ["Random<br>order", "Stage 1<br>candidates", "Stage 2<br>XGBoost", "Final"]
    assert list(ndcg.y) == [0.2, 0.3, 0.45, 0.5]
    assert list(mapk.text) == ["—", "0.200", "—", "0.400"]
    assert list(ndcg.marker.pattern.shape) == ["/", "", "", ""]
    assert not fig.layout.shapes
    with pytest.raises(DataError, match="oracle"):
        C.metrics_by_stage(_metrics(), ["oracle_ndcg@10"])
    indexed = C.metrics_by_stage(_metrics().set_index("stage"), ["ndcg@10"])
    assert list(indexed.data[0].y) == [0.3, 0.45, 0.5]


def test_calibration_diagonal_sizes_and_ece():
    bins = pd.concat([_calibration_bins(), pd.DataFrame({"stage": ["stage3"], "mean_predicted": [np.nan],
                                                         "observed_rate": [0.5], "count": [10]})])
    fig = C.calibration(bins)
    diag, s2, s3 = fig.data
    assert list(diag.x) == [0, 1]
    assert list(diag.y) == [0, 1]
    ece2 = (100 * 0.1 + 300 * 0.1) / 400  # Σ n_b |obs − pred| / N
    assert s2.name == f"Stage 2 XGBoost (ECE {ece2:.3f})"
    assert s3.name == "Stage 3 neural (ECE 0.050)"
    assert list(s2.marker.size) == [100, 300]
    assert s2.marker.sizemode == "area"
    assert len(s3.x) == 2  # the NaN bin is dropped


def test_improved_degraded_normalises_and_annotates_p():
    frame = pd.DataFrame({"transition": ["stage1→stage2", "stage2→stage3"], "improved": [6, 1], "unchanged": [2, 1],
                          "degraded": [2, 2], "p_value": [0.0004, np.nan]})
    fig = C.improved_degraded(frame)
    improved, unchanged, degraded = fig.data
    assert list(improved.x) == [0.6, 0.25]
    assert list(degraded.x) == [0.2, 0.5]
    assert (improved.marker.color, unchanged.marker.color, degraded.marker.color) == (ST.GOOD, ST.NEUTRAL, ST.BAD)
    assert list(improved.y) == ["Stage 1 → Stage 2", "Stage 2 → Stage 3"]
    assert _notes(fig) == ["p < 0.001", "p = —"]
    assert fig.layout.barmode == "stack"
    assert C.improved_degraded(frame.drop(columns="p_value")).layout.annotations == ()


def test_feature_names_from_data_are_shown_as_text_not_markup():
    """Topics become feature names (issue 14): Plotly would render a tag in a label, so names are escaped."""
    imp = pd.Series({"affinity_tech <beta>": 2.0, "quality": 1.0})
    fig = C.feature_importance(imp)
    assert "Stated affinity: tech &lt;beta&gt;" in list(fig.data[0].y)
    contrib = C.contributions(pd.Series({"topic_sports [EU] <b>x</b>": 0.4, "quality": -0.1}), 0.2, "why")
    assert "topic_sports [EU] &lt;b&gt;x&lt;/b&gt;" in list(contrib.data[0].y)


def test_tradeoff_curve_labels_axes_and_current_point():
    fig = C.tradeoff_curve(_sweep(), current=(0.5, 0.6, "current setting (MMR λ = 0.15)"))
    line, star = fig.data
    assert list(line.x) == [0.7, 0.6, 0.4]
    assert list(line.y) == [0.5, 0.55, 0.6]
    assert list(line.text) == ["λ = 0", "", "λ = 0.2"]  # every other λ labelled
    # the star at (0.5, 0.6) is on no point: every label stays right; on λ = 0.2's point it moves that one
    assert list(line.textposition) == ["middle right"] * 3
    on_point = C.tradeoff_curve(_sweep(), current=(0.4, 0.6, "current setting (MMR λ = 0.2)")).data[0]
    assert list(on_point.textposition) == ["middle right", "middle right", "bottom right"]  # not under the star
    assert fig.layout.yaxis.title.text.startswith("Oracle NDCG@10")
    assert fig.layout.xaxis.title.text.startswith("Topic diversity@10")
    assert star.name == "current setting (MMR λ = 0.15)"
    assert star.marker.symbol == "star"
    same = pd.DataFrame({"lambda": [0.0, 0.1, 0.2, 0.3, 0.4], "relevance": [0.5, 0.5, 0.5, 0.6, 0.7],
                         "diversity": [0.7, 0.7, 0.7, 0.6, 0.5]})
    assert list(C.tradeoff_curve(same).data[0].text) == ["", "", "λ = 0–0.2", "", "λ = 0.4"]  # one label per point
    lo, hi = fig.layout.xaxis.range
    assert lo < 0.4
    assert hi > 0.7


def test_data_curve_draws_each_list_with_its_seed_band_on_a_percent_axis():
    from ranking.curve import LearningCurve

    shares = (0.1, 0.5, 1.0)
    values = {s: {seed: {"final": 0.5 + 0.1 * j + 0.01 * seed, "glm": 0.6} for seed in (0, 2)}
              for j, s in enumerate(shares)}
    fig = C.data_curve(LearningCurve("oracle_ndcg@10", shares, (0, 2), values))
    lines = {t.name: t for t in fig.data if t.mode == "lines+markers"}
    assert set(lines) == {"Final list", "Per-signal GLM"}
    assert list(lines["Final list"].y) == pytest.approx([0.51, 0.61, 0.71])  # mean of the two seeds
    band = fig.data[0]
    assert list(band.y) == pytest.approx([0.52, 0.62, 0.72, 0.70, 0.60, 0.50])  # highest seed out, lowest back
    assert len(fig.data) == 4  # a band and a line each for the final feed and the GLM
    assert fig.layout.legend.orientation == "v"  # beside the plot: it cannot cover the title
    assert list(fig.layout.xaxis.ticktext) == ["10 %", "50 %", "100 %"]
    assert "share of the training log" in fig.layout.xaxis.title.text


def test_signal_curves_are_relative_to_each_models_first_round():
    fig = C.signal_curves({"p_click": [0.5, 0.4], "e_dwell": [10.0, 8.0]}, {"p_click": 2})
    lines = [t for t in fig.data if t.mode != "markers"]
    assert [t.name for t in lines] == ["P(click)", "Expected dwell (s)"]
    assert list(lines[0].y) == pytest.approx([1.0, 0.8])  # 0.4 / 0.5
    assert list(lines[1].y) == pytest.approx([1.0, 0.8])  # 8 / 10: both models on one axis
    star = [t for t in fig.data if t.mode == "markers"]
    assert [list(t.x) for t in star] == [[2]]
