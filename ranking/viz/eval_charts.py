"""Charts of the evaluation's references: baselines beside the stages, off-policy estimates, beyond accuracy.

Where it sits: beside ``ranking.viz.stage_charts``, on the projector style of ``ranking.viz.style``.
Inputs are plain mappings (list name → value); names reach people through ``ranking.names`` and the
baseline titles, never as code keys.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ranking import names
from ranking.evaluation.baselines import TITLES
from ranking.viz.style import BASE_FONT, PALETTE, STAGE_COLORS, STAGE_ORDER, _empty, _stage_label, _style

BASELINE_TITLES = {**TITLES, "random": "Random order"}
BASELINE_STYLE = {"popularity": ("#D55E00", "dash"), "smoothed_ctr": ("#E69F00", "dot"),
                  "heuristic": ("#0072B2", "dashdot"), "freshness": ("#009E73", "longdashdot"),
                  "glm": ("#6A3D9A", "dash"), "logreg": ("#000000", "dot"), "random": ("#777777", "longdash")}
ESTIMATOR_TITLES = {"oracle": "Truth (oracle NDCG)", "heldout_ndcg": "Held-out NDCG", "ips": "IPS",
                    "clipped_ips": "Clipped IPS", "snips": "SNIPS", "dr": "Doubly robust"}


def _ordered(values: Mapping[str, float]) -> list[str]:
    return [s for s in STAGE_ORDER if s in values] + [s for s in values if s not in STAGE_ORDER]


def baselines_vs_stages(stages: Mapping[str, float], references: Mapping[str, float], metric: str) -> go.Figure:
    """Bars = each stage's value of one metric; dashed lines (named in the legend) = each baseline's value of
    the *same* metric, drawn from the first stage to the last.

    ``stages``/``references``: list or baseline name → value of ``metric`` (a key such as ``oracle_ndcg@10``).
    """
    label = names.title(metric)
    title = f"{label}: learned stages vs simple baselines"
    order = [s for s in _ordered(stages) if np.isfinite(stages[s])]
    if not order:
        return _empty(title, 480)
    ys = [float(stages[s]) for s in order]
    ticks = [_stage_label(s) for s in order]
    fig = go.Figure(go.Bar(  # numeric x (labelled by ticks) so reference lines can span the whole plot
        x=list(range(len(order))), y=ys, customdata=ticks,
        marker_color=[STAGE_COLORS.get(s, PALETTE[0]) for s in order],
        text=[f"{v:.3f}" for v in ys], textposition="inside", insidetextanchor="end",
        textfont={"size": BASE_FONT, "color": "#111111"}, name="learned stages",
        hovertemplate=f"<b>%{{customdata}}</b><br>{label} = %{{y:.4f}}<extra></extra>"))
    refs = {n: float(v) for n, v in references.items() if v is not None and np.isfinite(v)}
    for name, v in sorted(refs.items(), key=lambda kv: -kv[1]):  # legend from best to worst baseline
        color, dash = BASELINE_STYLE.get(name, ("#333333", "dash"))
        who = BASELINE_TITLES.get(name, name)
        fig.add_trace(go.Scatter(x=[-0.5, len(order) - 0.5], y=[v, v], mode="lines", name=f"{who}: {v:.3f}",
                                 line={"color": color, "dash": dash, "width": 3},
                                 hovertemplate=f"{who}<br>{label} = {v:.4f}<extra></extra>"))
    top = max([*ys, *refs.values(), 1e-9])
    fig.update_yaxes(range=[0, top * 1.15])
    fig.update_xaxes(range=[-0.5, len(order) - 0.5], tickvals=list(range(len(order))), ticktext=ticks)
    fig = _style(fig, title, "list", f"{label} (0–1, higher is better)", 560, legend=True)
    return _legend_beside(fig)


def _legend_beside(fig: go.Figure) -> go.Figure:
    """A long legend to the right of the plot: above it, four rows of entries ran into the title."""
    fig.update_layout(legend={"orientation": "v", "yref": "paper", "yanchor": "top", "y": 1.0, "xanchor": "left",
                              "x": 1.02},
                      margin={"t": 80, "r": 300})
    return fig


def estimator_agreement(values: Mapping[str, Mapping[str, float]], tau: Mapping[str, float],
                        intervals: Mapping[str, Mapping[str, tuple[float, float]]] | None = None) -> go.Figure:
    """Each yardstick's value per stage, rescaled to 0 (its worst stage) … 1 (its best), one line each, with its
    95 % interval (rescaled the same way) as error bars where ``intervals`` gives one.

    ``values``: yardstick (``oracle``, ``heldout_ndcg``, ``ips``, ``clipped_ips``, ``snips``, ``dr``) → list name →
    value; ``tau``: yardstick → Kendall τ of its stage order against the oracle's (shown in the legend);
    ``intervals``: yardstick → list name → (low, high).
    """
    title = "Which estimate orders the stages like the truth?"
    series = {k: v for k, v in values.items() if any(np.isfinite(x) for x in v.values())}
    if "oracle" not in series or len(series) < 2:
        return _empty(title, 520)
    order = _ordered(series["oracle"])
    fig = go.Figure()
    spread = np.array([0.0, 1.0])
    for i, (key, row) in enumerate(series.items()):
        y = np.array([row.get(s, np.nan) for s in order], dtype=float)
        lo, hi = np.nanmin(y), np.nanmax(y)
        scaled = (y - lo) / (hi - lo) if hi > lo else np.full_like(y, 0.5)
        name = ESTIMATOR_TITLES.get(key, key)
        if key != "oracle":
            t = tau.get(key, np.nan)
            name += f" · τ = {t:+.2f}" if np.isfinite(t) else " · τ undefined"
        truth = key == "oracle"
        bars = (intervals or {}).get(key)
        error = None
        if bars and hi > lo:
            low = np.array([bars.get(s, (np.nan, np.nan))[0] for s in order], float)
            high = np.array([bars.get(s, (np.nan, np.nan))[1] for s in order], float)
            error = {"type": "data", "symmetric": False, "array": np.nan_to_num((high - y) / (hi - lo)),
                     "arrayminus": np.nan_to_num((y - low) / (hi - lo)), "thickness": 2, "width": 5}
            spread = np.r_[spread, (low - lo) / (hi - lo), (high - lo) / (hi - lo)]
        fig.add_trace(go.Scatter(
            x=[_stage_label(s, " ") for s in order], y=scaled, name=name, mode="lines+markers", error_y=error,
            line={"width": 6 if truth else 3, "color": "#111111" if truth else PALETTE[i % len(PALETTE)],
                  "dash": "solid" if truth else "dash"}, marker={"size": 14 if truth else 10},
            customdata=y, hovertemplate=f"<b>%{{x}}</b><br>{name}<br>value = %{{customdata:.4f}}<extra></extra>"))
    low, high = float(np.nanmin(spread)), float(np.nanmax(spread))
    fig.update_yaxes(range=[min(low, 0) - 0.08, max(high, 1) + 0.08], tickvals=[0, 0.5, 1],
                     ticktext=["worst", "", "best"])
    # the key to τ is a subtitle: as an annotation under the plot it sat on the slanted stage names
    title += "<br><sup>τ = Kendall's τ of the stage order against the truth's (+1 = same order, −1 = reversed)</sup>"
    return _legend_beside(_style(fig, title, "list (funnel order)", "value, rescaled per estimate (stage rank)", 560,
                                 legend=True))


def beyond_accuracy(metrics: Mapping[str, Mapping[str, float]], k: int) -> go.Figure:
    """Small multiples: one panel per beyond-accuracy metric, one bar per list and baseline.

    ``metrics``: list or baseline name → metric key → value (keys from ``ranking.evaluation.beyond``).
    """
    title = f"Beyond accuracy: novelty, diversity, topic calibration, popularity bias (top {k})"
    panels = [("novelty", "Novelty (bits)", "bits · higher = rarer items"),
              ("intra_list_diversity", "Intra-list diversity", "0–1 · higher = more varied"),
              ("topic_calibration_kl", "Topic calibration gap (KL)", "nats · 0 = mirrors the history"),
              ("avg_rec_popularity", "Avg. recommended popularity", "share of users who engaged"),
              ("exposure_gini", "Exposure Gini", "0–1 · lower = exposure spread wider")]
    rows = [n for n in (*_ordered({s: 0 for s in metrics if s in STAGE_ORDER}),
                        *[b for b in BASELINE_TITLES if b in metrics])]
    if not rows:
        return _empty(title, 560)
    # every panel lists the same rows, so only the left column names them (shared y): with names on both
    # columns the right column's labels ran into the left column's bars
    fig = make_subplots(rows=3, cols=2, horizontal_spacing=0.06, vertical_spacing=0.16, shared_yaxes=True,
                        specs=[[{}, {}], [{}, {}], [{}, None]],
                        subplot_titles=[t for _, t, _ in panels])
    labels = [names.SHORT.get(n, BASELINE_TITLES.get(n, n)) for n in rows]
    colors = [STAGE_COLORS.get(n, BASELINE_STYLE.get(n, ("#333333",))[0]) for n in rows]
    for i, (p, _, unit) in enumerate(panels):
        r, c = divmod(i, 2)
        y = [metrics[n].get(names.at(p, k), np.nan) for n in rows]
        fig.add_trace(go.Bar(y=labels, x=y, orientation="h", marker_color=colors, showlegend=False,
                             text=[f"{v:.3g}" if np.isfinite(v) else "n/a" for v in y], textposition="auto",
                             textangle=0, hovertemplate="<b>%{y}</b><br>%{x:.4f}<extra></extra>"), row=r + 1, col=c + 1)
        fig.update_yaxes(title_text="list" if c == 0 else None, autorange="reversed", row=r + 1, col=c + 1)
        fig.update_xaxes(title_text=unit, title_font={"size": BASE_FONT - 2}, nticks=5, row=r + 1, col=c + 1)
    fig.update_annotations(font={"size": BASE_FONT - 1})
    return _style(fig, title, None, None, 3 * (30 * len(rows) + 130))


DATA_CURVE_LISTS = ("stage2", "stage3", "final", "glm", "freshness", "heuristic", "logreg", "smoothed_ctr")
DATA_CURVE_BANDS = ("final", "glm")  # the comparison that matters; more bands hide each other


def data_curve(curve) -> go.Figure:
    """How much data does each stage need? Per list (``ranking.curve.LearningCurve``): the mean over training
    seeds of the basis metric against the share of the training log, with a band from the lowest to the highest
    seed. Learned stages are solid, baselines dashed in their usual styles."""
    title = "How much data does each stage need?"
    shown = [n for n in DATA_CURVE_LISTS if n in curve.lists()]
    if not shown or not curve.shares:
        return _empty(title, 520)
    label = names.title(curve.basis)
    x = [100.0 * s for s in curve.shares]
    fig = go.Figure()
    for name in shown:
        mean, lo, hi = curve.band(name)
        if name in STAGE_COLORS:
            color, dash, who = STAGE_COLORS[name], "solid", names.stage_title(name)
        else:
            (color, dash), who = BASELINE_STYLE.get(name, ("#333333", "dash")), BASELINE_TITLES.get(name, name)
        if len(curve.seeds) > 1 and name in DATA_CURVE_BANDS:
            fig.add_trace(go.Scatter(x=[*x, *x[::-1]], y=[*hi, *lo[::-1]], fill="toself", fillcolor=color,
                                     opacity=0.15, line={"width": 0}, hoverinfo="skip", showlegend=False))
        fig.add_trace(go.Scatter(x=x, y=mean, mode="lines+markers", name=who,
                                 line={"color": color, "dash": dash, "width": 4 if name == "final" else 3},
                                 marker={"size": 9},
                                 hovertemplate=f"<b>{who}</b><br>%{{x:.0f}}% of the log: {label} = %{{y:.3f}}"
                                               "<extra></extra>"))
    fig.update_xaxes(type="log", tickvals=x, ticktext=[f"{v:g} %" for v in x])
    fig = _style(fig, title, "share of the training log used (log scale)", f"{label} (0–1, higher is better)",
                 560, legend=True)
    return _legend_beside(fig)


def impression_metrics(lists: Mapping[str, Mapping[str, float]]) -> go.Figure:
    """The official MIND metrics (AUC, MRR, nDCG@5, nDCG@10) side by side: for each, every list's mean over held-out
    impressions as a dot with its 95 % interval, lists in funnel order then the baselines (one colour each).

    ``lists``: list name → {metric, metric_low, metric_high} (``ranking.evaluation.impression``'s ``lists``).
    """
    from ranking.evaluation.impression import METRICS
    from ranking.evaluation.impression import TITLES as METRIC_TITLES

    title = "Per impression: does each list put the clicked candidates first?"
    rows = [n for n in (*_ordered({s: 0 for s in lists if s in STAGE_ORDER}),
                        *[b for b in BASELINE_TITLES if b in lists])]
    if not rows:
        return _empty(title, 480)
    fig = go.Figure()
    ticks = [METRIC_TITLES[m] for m in METRICS]
    for name in rows:
        who = _stage_label(name, " ") if name in STAGE_ORDER else BASELINE_TITLES[name]
        y = np.array([lists[name][m] for m in METRICS], float)
        lo = np.array([lists[name][f"{m}_low"] for m in METRICS], float)
        hi = np.array([lists[name][f"{m}_high"] for m in METRICS], float)
        color = STAGE_COLORS.get(name, BASELINE_STYLE.get(name, ("#333333", ""))[0])
        fig.add_trace(go.Scatter(
            x=ticks, y=y, mode="markers", name=who, marker={"size": 12, "color": color},
            error_y={"type": "data", "symmetric": False, "array": np.nan_to_num(hi - y),
                     "arrayminus": np.nan_to_num(y - lo), "thickness": 2.5, "width": 5},
            customdata=np.c_[lo, hi],
            hovertemplate=(f"<b>{who}</b><br>%{{x}} = %{{y:.3f}}<br>95 % interval %{{customdata[0]:.3f}} – "
                           "%{customdata[1]:.3f}<extra></extra>")))
    fig.update_layout(scattermode="group", scattergap=0.35)
    fig = _style(fig, title, "metric (MIND's official definitions, y = click)",
                 "mean over impressions (higher = better)", 560, legend=True)
    return _legend_beside(fig)
