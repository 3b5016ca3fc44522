"""Dashboard charts: pure functions from plain pandas/numpy inputs to a ``plotly.graph_objects.Figure``.

Where it sits: the last step of every page; the pipeline computes, these draw. Nothing here knows the
pipeline's classes, so a chart can be fed from a test, a CLI run or a saved artifact. Every figure is
styled for a projector by ``_style`` (large fonts, white template, Okabe–Ito colours, explicit height),
never shown, and no global plotly state is touched. Empty inputs give a figure that says
"nothing to show yet" instead of raising. Stage-flow charts (bump chart, Sankey, τ, per-stage
metrics, calibration, improved/degraded, funnel) live in ``ranking.viz.stage_charts``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ranking.names import METRICS, SIGNAL_TITLES, feature_title
from ranking.viz.style import (
    BAD,
    NEUTRAL,
    PALETTE,
    STAGE_COLORS,
    TRAIN_COLOR,
    VALID_COLOR,
    _color,
    _direction,
    _empty,
    _fmt,
    _mode,
    _require,
    _stage_label,
    _style,
)

# ---------------------------------------------------------------- labels, timing, recall

def score_histogram(scores: np.ndarray, labels: np.ndarray, threshold: float,
                    reference_labels: np.ndarray | None = None, bins: int = 40) -> go.Figure:
    """Histogram of compound engagement scores by label. ``scores`` float (n,), ``labels`` 0/1 (n,),
    ``reference_labels`` 0/1 (n,) from another label config (flips are annotated); NaN scores dropped."""
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels).astype(bool)
    keep = ~np.isnan(scores)
    title = "Compound engagement score"
    if not keep.any():
        return _empty(title)
    s, lab = scores[keep], labels[keep]
    n_pos, n = int(lab.sum()), len(s)
    lo, hi = float(min(s.min(), threshold)), float(max(s.max(), threshold))
    size = (hi - lo) / bins if hi > lo else 1.0
    # Bin edges on the threshold, so no bar mixes both labels. Binned here: a page sends ~80 counts, not
    # every score twice (24k on the sample world), and the browser draws bars instead of binning them.
    start = threshold - math.ceil((threshold - lo) / size) * size
    edges = start + size * np.arange(math.ceil((hi - start) / size) + 2)
    centres = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure()
    for name, mask, color in (("positive", lab, PALETTE[0]), ("negative", ~lab, PALETTE[1])):
        counts, _ = np.histogram(s[mask], bins=edges)
        fig.add_trace(go.Bar(
            x=centres, y=counts, width=size, name=f"{name} ({int(mask.sum()):,})", marker_color=color,
            opacity=0.85, customdata=np.column_stack([edges[:-1], edges[1:]]),
            hovertemplate=f"score %{{customdata[0]:.3g}} to %{{customdata[1]:.3g}}<br>%{{y:,}} {name} "
                          "interactions<extra></extra>"))
    thr = f"{float(threshold):.4g}"
    thr = thr if any(c in thr for c in ".e") else thr + ".0"
    fig.add_vline(x=threshold, line_dash="dash", line_width=2, line_color="#333333",
                  annotation_text=f"threshold = {thr}", annotation_position="top right")
    fig.update_layout(barmode="stack", bargap=0.05)
    title = f"{title}: {n_pos:,} of {n:,} positive ({n_pos / n:.1%})"
    if reference_labels is not None:
        ref = np.asarray(reference_labels).astype(bool)[keep]
        up, down = int((lab & ~ref).sum()), int((~lab & ref).sum())
        title += (f"<br><sup>{up + down:,} labels differ from the reference: {up:,} newly positive, "
                  f"{down:,} newly negative</sup>")
    return _style(fig, title, "compound engagement score (weighted units)", "interactions (count)", 440,
                  legend=True)


def stage_timing(seconds: Mapping[str, float]) -> go.Figure:
    """Horizontal bars of wall-clock time per stage. ``seconds``: ordered {stage: seconds}, NaN → 0; a
    "total" key is left out of the bars (it would double-count) and the title shows the sum."""
    title = "Time per stage"
    parts = {k: v for k, v in seconds.items() if k != "total"}
    if not parts:
        return _empty(title)
    names = list(parts)
    vals = [0.0 if v is None or math.isnan(float(v)) else float(v) for v in parts.values()]
    text = [f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s" for v in vals]
    fig = go.Figure(go.Bar(
        y=[_stage_label(n, " ") for n in names], x=vals, orientation="h", text=text, textposition="auto",
        marker_color=[STAGE_COLORS.get(n, NEUTRAL) for n in names],
        hovertemplate="<b>%{y}</b><br>%{text} wall-clock<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return _style(fig, f"{title} (total {sum(vals):.2f} s)", "wall-clock time (s)", "stage",
                  140 + 55 * len(names))


def recall_at_k(frame: pd.DataFrame, current_k: int | None = None) -> go.Figure:
    """Candidate recall@K curves. ``frame`` columns k (int), recall (0–1), source (str); a line per source."""
    title = "Candidate recall@K by source"
    _require(frame, ("k", "recall", "source"), "recall_at_k")
    df = frame.dropna(subset=["k", "recall"])
    if df.empty:
        return _empty(title)
    fig = go.Figure()
    for i, (source, g) in enumerate(df.groupby("source", sort=False)):
        g = g.sort_values("k")
        fig.add_trace(go.Scatter(
            x=g["k"], y=g["recall"], name=str(source), mode=_mode(len(g)),
            line={"width": 3, "color": _color(i)},
            hovertemplate=f"<b>{source}</b><br>K = %{{x}}<br>recall@K = %{{y:.1%}}<extra></extra>"))
    if current_k is not None:
        fig.add_vline(x=current_k, line_dash="dash", line_color="#333333",
                      annotation_text=f"current K = {current_k}", annotation_position="bottom right")
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    return _style(fig, title, "K (candidates per user)", "recall@K (share of positives retrieved)", 460,
                  legend=True)


# ---------------------------------------------------------------- training

def learning_curve(evals: Mapping[str, Mapping[str, list[float]]], best_iteration: int | None = None,
                   metric: str | None = None, set_names: Mapping[str, str] | None = None) -> go.Figure:
    """XGBoost ``evals_result_`` ({"validation_0": {"logloss": [...]}, ...}) as one line per (set, metric),
    one subplot per metric (or only ``metric``), star at ``best_iteration``. With two sets,
    validation_0/1 read as train/validation unless ``set_names`` says otherwise."""
    title = "Stage 2 (XGBoost) learning curve"
    sets = [k for k, v in evals.items() if any(len(c) for c in v.values())]
    default = ({"validation_0": "train", "validation_1": "validation"} if len(sets) == 2
               else {"validation_0": "validation"} if len(sets) == 1 else {})
    names = {**default, **(set_names or {})}
    available = list(dict.fromkeys(m for s in sets for m in evals[s]))
    if metric is not None and available and metric not in available:
        raise ValueError(f"unknown metric {metric!r}; valid: {', '.join(available)}")
    metrics = [m for m in available if metric in (None, m)]
    if not metrics:
        return _empty(title)
    fig = make_subplots(rows=len(metrics), cols=1, shared_xaxes=True, vertical_spacing=0.08)
    for r, m in enumerate(metrics, start=1):
        for j, s in enumerate(sets):
            y = np.asarray(evals[s].get(m, []), dtype=float)
            label = names.get(s, s)
            color = TRAIN_COLOR if label == "train" else VALID_COLOR if j == len(sets) - 1 else _color(j + 2)
            fig.add_trace(go.Scatter(
                x=np.arange(len(y)), y=y, name=label, legendgroup=label, showlegend=r == 1,
                mode=_mode(len(y)), line={"width": 3, "color": color},
                hovertemplate=f"<b>{label}</b><br>round %{{x}}<br>{_metric_name(m)} = %{{y:.4f}}<extra></extra>"),
                row=r, col=1)
        fig.update_yaxes(title_text=f"{_metric_name(m)} ({_direction(m)})", row=r, col=1)
        last = np.asarray(evals[sets[-1]].get(m, []), dtype=float)
        if best_iteration is not None and 0 <= best_iteration < len(last):
            fig.add_trace(go.Scatter(
                x=[best_iteration], y=[last[best_iteration]], mode="markers", name="best iteration",
                legendgroup="best", showlegend=r == 1,
                marker={"symbol": "star", "size": 18, "color": "#000000"},
                hovertemplate=f"best iteration %{{x}}<br>{m} = %{{y:.4f}}<extra></extra>"), row=r, col=1)
    if best_iteration is not None:
        title += f" (best iteration {best_iteration})"
    fig.update_xaxes(title_text="boosting round (trees)", row=len(metrics), col=1)
    return _style(fig, title, None, None, 200 + 260 * len(metrics), legend=True)


def signal_curves(curves: Mapping[str, list[float]], trees: Mapping[str, int] | None = None) -> go.Figure:
    """One line per signal model (stage 2 predicts five): its held-out loss per boosting round divided by its
    loss after the first round, so models with different losses share one axis; a star where early stopping
    kept the trees (``trees``: signal → trees used). Five models drawn as one series looked like a crash."""
    title = "Stage 2 (XGBoost) learning curves, one per signal model"
    shown = {k: np.asarray(v, dtype=float) for k, v in curves.items() if len(v)}
    if not shown:
        return _empty(title)
    fig = go.Figure()
    for i, (name, y) in enumerate(shown.items()):
        who = SIGNAL_TITLES.get(name, name)
        rel = y / y[0] if y[0] else y
        fig.add_trace(go.Scatter(x=np.arange(1, len(y) + 1), y=rel, name=who, mode=_mode(len(y)),
                                 line={"width": 3, "color": _color(i)}, customdata=y,
                                 hovertemplate=f"<b>{who}</b><br>round %{{x}}<br>loss %{{customdata:.4f}} "
                                               "(%{y:.3f} × round 1)<extra></extra>"))
        n = (trees or {}).get(name)
        if n is not None and 1 <= n <= len(y):
            fig.add_trace(go.Scatter(x=[n], y=[rel[n - 1]], mode="markers", name="trees kept", legendgroup="kept",
                                     showlegend=i == 0, marker={"symbol": "star", "size": 16, "color": "#000000"},
                                     hovertemplate=f"{who}: {n} trees kept<extra></extra>"))
    # a short y title: a long one rose past the plot into the title at presenter size
    return _style(fig, title + "<br><sup>held-out loss of each model ÷ its loss after round 1: lower is "
                  "better</sup>", "boosting round (trees)", "loss ÷ round 1", 500, legend=True)


def feature_importance(importance: pd.Series, top: int = 15, descriptions: Mapping[str, str] | None = None,
                       unit: str = "total gain") -> go.Figure:
    """Top-``top`` features as sorted horizontal bars. ``importance``: float Series indexed by feature name;
    ``descriptions`` {name: text}, keys may end in '*' to match a prefix; NaN dropped."""
    title = "Stage 2 feature importance"
    s = importance.dropna().astype(float).sort_values(ascending=False, kind="stable")
    if s.empty:
        return _empty(title)
    total, shown = float(s.abs().sum()) or 1.0, s.iloc[:top]
    desc = dict(descriptions or {})
    wild = [(k[:-1], v) for k, v in desc.items() if k.endswith("*")]

    def describe(name: str) -> str:
        return desc.get(name) or next((v for p, v in wild if name.startswith(p)), "")

    fig = go.Figure(go.Bar(
        y=[html.escape(feature_title(str(i))) for i in shown.index], x=shown.to_numpy(), orientation="h",  # from data
        marker_color=STAGE_COLORS["stage2"],
        customdata=[[v / total, html.escape(describe(str(n)))] for n, v in shown.items()],
        hovertemplate=f"<b>%{{y}}</b><br>{unit}: %{{x:.4g}} (%{{customdata[0]:.1%}} of all)"
                      "<br>%{customdata[1]}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return _style(fig, f"{title} (top {len(shown)} of {len(s)})", f"importance ({unit})", "feature",
                  160 + 32 * len(shown))


def contributions(contrib: pd.Series, base: float, title: str, top: int = 10,
                  unit: str = "log-odds") -> go.Figure:
    """SHAP waterfall for one item: bias, then features by |contribution| (the rest as "other"), then the
    final margin. ``contrib``: float Series indexed by feature name; ``base``: the bias term."""
    c = contrib.dropna().astype(float)
    if c.empty or base is None or math.isnan(float(base)):
        return _empty(title)
    c = c.reindex(c.abs().sort_values(ascending=False, kind="stable").index)
    head, rest = c.iloc[:top], c.iloc[top:]
    names = ["bias (average)", *(html.escape(feature_title(str(i))) for i in head.index)]  # names from data
    values = [float(base), *head.to_numpy()]
    if len(rest):
        names.append(f"other ({len(rest)} features)")
        values.append(float(rest.sum()))
    final = float(base) + float(c.sum())
    names.append("final margin")
    values.append(final)
    measure = ["absolute", *["relative"] * (len(values) - 2), "total"]
    fig = go.Figure(go.Waterfall(
        y=names, x=values, measure=measure, orientation="h",
        text=[f"{v:+.3f}" if m == "relative" else f"{v:.3f}" for v, m in zip(values, measure, strict=True)],
        textposition="outside", increasing={"marker": {"color": BAD}},
        decreasing={"marker": {"color": PALETTE[0]}},
        totals={"marker": {"color": "#555555"}}, connector={"line": {"color": "#999999", "dash": "dot"}},
        hovertemplate=f"<b>%{{y}}</b><br>%{{text}} {unit}<extra></extra>"))
    path = np.cumsum(values[:-1])  # the running margin after each bar
    lo, hi = min(0.0, float(path.min())), max(0.0, float(path.max()))
    pad = 0.18 * (hi - lo or 1.0)  # room for the outside labels
    fig.update_xaxes(range=[lo - pad, hi + pad])
    fig.update_yaxes(autorange="reversed")
    return _style(fig, f"{title}<br><sup>bias {base:.3f} → margin {final:.3f} {unit}</sup>",
                  f"model margin ({unit})", "feature", 180 + 36 * len(names))


def _metric_name(key: str) -> str:
    """A training metric key for people (XGBoost's ``auc``/``logloss``, Keras's ``loss``); others as given."""
    return {"loss": "Loss"}.get(key, METRICS.get(key.split("@")[0], key))


def loss_curve(history: Mapping[str, list[float]]) -> go.Figure:
    """Keras ``History.history`` ({"loss": [...], "val_loss": [...], "val_auc": [...]}) per epoch; one
    subplot per metric, train vs validation; partial histories (even one epoch) are fine."""
    title = "Stage 3 (neural) training"
    series = {k: np.asarray(v, dtype=float) for k, v in history.items() if len(v)}
    metrics = list(dict.fromkeys(k.removeprefix("val_") for k in series))
    metrics.sort(key=lambda m: m != "loss")
    if not metrics:
        return _empty(title)
    fig = make_subplots(rows=len(metrics), cols=1, shared_xaxes=True, vertical_spacing=0.08)
    for r, m in enumerate(metrics, start=1):
        for key, label, color in ((m, "train", TRAIN_COLOR), (f"val_{m}", "validation", VALID_COLOR)):
            if key not in series:
                continue
            y = series[key]
            fig.add_trace(go.Scatter(
                x=np.arange(1, len(y) + 1), y=y, name=label, legendgroup=label, mode=_mode(len(y)),
                marker={"size": 9},
                showlegend=label not in {t.name for t in fig.data}, line={"width": 3, "color": color},
                hovertemplate=f"<b>{label}</b><br>epoch %{{x}}<br>{_metric_name(m)} = %{{y:.4f}}<extra></extra>"),
                row=r, col=1)
        fig.update_yaxes(title_text=f"{_metric_name(m)} ({_direction(m)})", row=r, col=1)
    if "val_loss" in series and not np.isnan(series["val_loss"]).all():
        best = int(np.nanargmin(series["val_loss"]))
        fig.add_trace(go.Scatter(
            x=[best + 1], y=[series["val_loss"][best]], mode="markers", name="best epoch",
            marker={"symbol": "star", "size": 18, "color": "#000000"},
            hovertemplate="best epoch %{x}<br>val_loss = %{y:.4f}<extra></extra>"), row=1, col=1)
    n_epochs = max(len(v) for v in series.values())
    fig.update_xaxes(title_text="epoch", row=len(metrics), col=1)
    fig.update_xaxes(range=[0.5, max(n_epochs, 2) + 0.5], dtick=max(1, n_epochs // 10))
    return _style(fig, f"{title}: {n_epochs} epoch{'s' if n_epochs != 1 else ''}", None, None,
                  200 + 260 * len(metrics), legend=True)


# ---------------------------------------------------------------- runs

def compare_runs(a: Mapping[str, float], b: Mapping[str, float],
                 names: tuple[str, str] = ("A", "B")) -> go.Figure:
    """Side-by-side bars of metrics {name: value} for a pinned run ``a`` and the current run ``b``."""
    title = f"{names[0]} vs {names[1]}"
    metrics = list(dict.fromkeys([*a, *b]))
    if not metrics:
        return _empty(title)

    def vals(d: Mapping[str, float]) -> list[float]:
        return [math.nan if d.get(m) is None else float(d[m]) for m in metrics]

    va, vb = vals(a), vals(b)
    delta = [y - x for x, y in zip(va, vb, strict=True)]
    fig = go.Figure()
    for name, v, color, text in ((names[0], va, "#999999", [_fmt(x) for x in va]),
                                 (names[1], vb, PALETTE[0],
                                  [_fmt(y) if math.isnan(d) else f"{_fmt(y)} ({d:+.3g})" for y, d in
                                   zip(vb, delta, strict=True)])):
        fig.add_trace(go.Bar(
            x=metrics, y=v, name=name, marker_color=color, text=text, textposition="outside",
            customdata=[[_fmt(d)] for d in delta],
            hovertemplate=f"<b>%{{x}}</b><br>{name}: %{{y:.4g}}<br>{names[1]} − {names[0]}: "
                          "%{customdata[0]}<extra></extra>"))
    top = np.nanmax([0.0, *va, *vb])
    fig.update_yaxes(range=[min(0.0, np.nanmin([0.0, *va, *vb])) * 1.15, (top or 1.0) * 1.15])
    fig.update_layout(barmode="group")
    return _style(fig, title, "metric", "metric value", 460, legend=True)
