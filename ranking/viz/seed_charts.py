"""The seed-study chart: does each step help once training noise is counted?

Where it sits: beside ``ranking.viz.stage_charts``; draws a ``ranking.evaluation.seeds.SeedStudy``
in the shared projector style of ``ranking.viz.style``.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go

from ranking import names
from ranking.evaluation.seeds import SeedStudy
from ranking.viz.style import BAD, BASE_FONT, GOOD, _color, _empty, _style

_VERDICT = {"b_beats_a": ("helps", GOOD), "a_beats_b": ("hurts", BAD),
            "not_distinguishable": ("not distinguishable", "#555555")}


def seed_effects(study: SeedStudy) -> go.Figure:
    """Per comparison (A → B): one dot per training seed (its mean per-user change B − A of the basis
    metric), the across-seed interval as a bar with the mean, a zero line, and the verdict in words."""
    title = "Does each step help, across training seeds?"
    if not study.comparisons:
        return _empty(title)
    basis = names.title(study.basis)
    comps = list(study.comparisons)
    ys = [c.title() for c in comps]
    fig = go.Figure()
    for i, seed in enumerate(study.seeds):
        fig.add_trace(go.Scatter(
            x=[c.effects[c.seeds.index(seed)] for c in comps], y=ys, mode="markers", name=f"seed {seed}",
            marker={"size": 14, "color": _color(i), "line": {"width": 1, "color": "#333333"}},
            hovertemplate=f"<b>%{{y}}</b><br>seed {seed}: %{{x:+.4f}}<extra></extra>"))
    lo = [c.interval[0] for c in comps]
    hi = [c.interval[1] for c in comps]
    means = [c.mean for c in comps]
    fig.add_trace(go.Scatter(
        x=means, y=ys, mode="markers", name=f"mean, {comps[0].confidence:.0%} interval over seeds",
        marker={"symbol": "line-ns", "size": 26, "line": {"width": 4, "color": "#222222"}},
        error_x={"type": "data", "symmetric": False, "color": "#222222", "thickness": 3, "width": 10,
                 "array": [h - m if not math.isnan(h) else 0 for h, m in zip(hi, means, strict=True)],
                 "arrayminus": [m - v if not math.isnan(v) else 0 for v, m in zip(lo, means, strict=True)]},
        hovertemplate="<b>%{y}</b><br>mean %{x:+.4f}<extra></extra>"))
    fig.add_vline(x=0, line_width=2, line_dash="dash", line_color="#444444")
    for y, c in zip(ys, comps, strict=True):
        word, color = _VERDICT[c.verdict]
        fig.add_annotation(x=1.01, y=y, xref="paper", text=f"<b>{word}</b>", showarrow=False, xanchor="left",
                           font={"size": BASE_FONT, "color": color})
    fig.update_yaxes(autorange="reversed")
    fig = _style(fig, title, f"change in {basis} from A to B (mean over users; 0 = no change)",
                 "comparison (A → B)", 220 + 70 * len(ys), legend=True)
    fig.update_layout(margin={"r": 220})  # room for the verdicts beside the plot
    return fig
