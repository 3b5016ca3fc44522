"""Charts of the online experiments (``ranking.online``): A/B effects, impressions needed, the feedback loop."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ranking.viz.style import BAD, BASE_FONT, GOOD, NEUTRAL, _color, _empty, _style

LOOP_MEASURES = (("value per impression", "value per impression"),
                 ("coverage", "coverage of live items"),
                 ("exposure Gini", "exposure Gini (0 = equal)"),
                 ("recommended popularity (clicks)", "popularity of shown items"),
                 ("feed similarity (Jaccard)", "feed similarity (Jaccard)"),
                 ("oracle NDCG@10", "oracle NDCG@10"))
LOOP_UNITS = ("score units", "share 0–1", "0–1", "clicks before the round", "0–1", "0–1")


def ab_effects(table: pd.DataFrame, names: tuple[str, str], per: str = "impression") -> go.Figure:
    """Each signal's change from A to B in % of A's mean, with its 95 % interval; green when B is better."""
    title = f"What changes per {per} if we ship {names[1]} instead of {names[0]}"
    rows = table[table["per"] == per]
    if rows.empty:
        return _empty(title)
    base = rows["A"].abs().where(rows["A"] != 0)  # no % of nothing: such a row gets a bar of 0 and says why
    pct, lo, hi = (100 * rows[c] / base for c in ("B − A", "low", "high"))
    lower_better = rows["metric"] == "hide"
    better_b = np.where(lower_better, rows["high"] < 0, rows["low"] > 0)
    better_a = np.where(lower_better, rows["low"] > 0, rows["high"] < 0)
    colors = np.where(better_b, GOOD, np.where(better_a, BAD, NEUTRAL))
    labels = [f"{n}{' (lower is better)' if m == 'hide' else ''}" for n, m in zip(rows["name"], rows["metric"],
                                                                                  strict=True)]
    text = [f"{v:+.0f} %" if np.isfinite(v) else f"A had none; B {b:.3g}" for v, b in zip(pct, rows["B"],
                                                                                          strict=True)]
    pct, lo, hi = pct.fillna(0.0), lo.fillna(0.0), hi.fillna(0.0)
    fig = go.Figure(go.Bar(
        x=pct, y=labels, orientation="h", marker_color=colors,
        error_x={"type": "data", "symmetric": False, "array": hi - pct, "arrayminus": pct - lo,
                 "color": "#111111", "thickness": 2},
        text=text, textposition="outside", cliponaxis=False,
        hovertemplate="%{y}: %{x:+.1f} % of A<extra></extra>"))
    fig.add_vline(x=0, line_color="#111111", line_width=2)
    fig.update_yaxes(autorange="reversed")
    left, right = min(float(lo.min()), 0.0), max(float(hi.max()), 0.0)
    pad = 0.25 * (right - left or 1.0)  # room for the labels outside the bars, on both sides
    fig.update_xaxes(range=[left - (pad if left < 0 else 0.05 * pad), right + pad])
    return _style(fig, title, "change from A to B, % of A's mean (black bars: 95 % interval)", None,
                  100 + 60 * len(rows))


def impressions_needed_chart(curve: pd.DataFrame, needed: pd.DataFrame) -> go.Figure:
    """Power against impressions for the A/B test and interleaving, the 80 % line and where each crosses it."""
    title = "How many impressions does each test need to detect the difference?"
    if curve.empty:
        return _empty(title)
    fig = go.Figure()
    for i, (method, part) in enumerate(curve.groupby("method", sort=False)):
        fig.add_trace(go.Scatter(x=part["impressions"], y=100 * part["power"], name=method, mode="lines",
                                 line={"color": _color(i), "width": 4, "dash": ("solid", "dash")[i % 2]}))
        row = needed[needed["method"] == method].iloc[0]
        if np.isfinite(row["impressions needed"]):
            fig.add_trace(go.Scatter(x=[row["impressions needed"]], y=[80], mode="markers+text",
                                     marker={"color": _color(i), "size": 14}, showlegend=False,
                                     text=[f"{row['impressions needed']:,.0f}"], textposition="top left",
                                     textfont={"size": BASE_FONT, "color": _color(i)}, name=method))
    fig.add_hline(y=80, line_dash="dash", line_color="#555555", annotation_text="80 % power",
                  annotation_font_size=BASE_FONT)
    fig.update_xaxes(type="log")
    fig.update_yaxes(range=[0, 105])
    return _style(fig, title, "impressions in the test (log scale)",
                  "power (% of tests that detect it)", 440, legend=True)


def loop_chart(tables: Mapping[str, pd.DataFrame]) -> go.Figure:
    """Six measures of the feed over rounds, one line per deployed policy (round 0: the logging policy)."""
    title = "The feedback loop: what the feed does round after round"
    if not tables:
        return _empty(title)
    fig = make_subplots(rows=2, cols=3, subplot_titles=[label for _, label in LOOP_MEASURES],
                        horizontal_spacing=0.08, vertical_spacing=0.2)
    for i, (name, table) in enumerate(tables.items()):
        for j, (col, _) in enumerate(LOOP_MEASURES):
            fig.add_trace(go.Scatter(x=table["round"], y=table[col], name=name, legendgroup=name, showlegend=j == 0,
                                     mode="lines+markers", line={"color": _color(i), "width": 3},
                                     marker={"size": 9}), row=j // 3 + 1, col=j % 3 + 1)
    fig.update_annotations(font_size=BASE_FONT)
    for j, unit in enumerate(LOOP_UNITS):
        fig.update_yaxes(title_text=unit, title_font_size=BASE_FONT - 2, row=j // 3 + 1, col=j % 3 + 1)
    fig.update_xaxes(title_text="round (0 = before)", dtick=1, title_font_size=BASE_FONT - 2)
    fig = _style(fig, title, None, None, 720, legend=True)
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.14, "xanchor": "left", "x": 0},
                      margin={"t": 110, "b": 120})
    return fig


def loop_groups_chart(tables: Mapping[str, pd.DataFrame]) -> go.Figure:
    """Value per impression over rounds for mainstream and niche users, per deployed policy."""
    title = "Who gains and who loses: mainstream vs niche tastes"
    if not tables:
        return _empty(title)
    fig = go.Figure()
    for i, (name, table) in enumerate(tables.items()):
        for group, dash in (("mainstream", "solid"), ("niche", "dot")):
            fig.add_trace(go.Scatter(x=table["round"], y=table[f"value per impression, {group}"],
                                     name=f"{name}, {group}", mode="lines+markers",
                                     line={"color": _color(i), "width": 3, "dash": dash}))
    fig.update_xaxes(dtick=1)
    fig = _style(fig, title, "round (0 = before deployment)", "value per impression", 520, legend=True)
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.25, "xanchor": "left", "x": 0},
                      margin={"t": 80, "b": 150})
    return fig
