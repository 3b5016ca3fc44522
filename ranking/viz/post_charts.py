"""Post-processing charts: the relevance/diversity trade-off over MMR λ."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from ranking import names
from ranking.viz.style import BASE_FONT, PALETTE, STAGE_COLORS, _empty, _require, _style


def tradeoff_curve(frame: pd.DataFrame, current: tuple[float, float, str] | None = None) -> go.Figure:
    """Relevance (y) against topic diversity (x), one point per λ joined in λ order, labelled "λ = …".

    ``frame``: columns lambda, relevance, diversity, with ``attrs`` naming the metric keys (as from
    ``ranking.evaluation.post_effects.lambda_sweep``). ``current``: (diversity, relevance, label) of
    the list the current settings produce, drawn as a large star.
    """
    title = "Relevance vs diversity: the MMR λ trade-off (all users)"
    _require(frame, ("lambda", "relevance", "diversity"), "tradeoff_curve")
    shown = frame.dropna(subset=["relevance", "diversity"])
    if shown.empty:
        return _empty(title)
    rel = names.title(frame.attrs.get("relevance", "relevance"))
    div = names.title(frame.attrs.get("diversity", "diversity"))
    fig = go.Figure(go.Scatter(
        x=shown["diversity"], y=shown["relevance"], mode="lines+markers+text", name="MMR λ",
        text=_uncrowded(_labels(shown), shown),
        textposition=_positions(shown, current), customdata=shown["lambda"],
        textfont={"size": BASE_FONT - 2, "color": "#222222"},
        line={"color": STAGE_COLORS["final"], "width": 3}, marker={"size": 10, "color": STAGE_COLORS["final"]},
        hovertemplate="λ = %{customdata:g}<br>" + div + ": %{x:.3f}<br>" + rel + ": %{y:.3f}<extra></extra>"))
    if current is not None:
        x, y, label = current
        fig.add_trace(go.Scatter(
            x=[x], y=[y], mode="markers", name=label, marker={"symbol": "star", "size": 24, "color": PALETTE[5],
                                                                "line": {"color": "#111111", "width": 1}},
            hovertemplate=f"{label}<br>{div}: %{{x:.3f}}<br>{rel}: %{{y:.3f}}<extra></extra>"))
    xs = [*shown["diversity"], *([current[0]] if current is not None and current[0] == current[0] else [])]
    lo, hi = float(min(xs)), float(max(xs))
    span = (hi - lo) or 0.05
    fig.update_xaxes(range=[lo - 0.1 * span, hi + 0.35 * span])  # room for the labels on the right
    return _style(fig, title, f"{div} (0 = one topic, higher = more varied)", f"{rel} (0–1, higher is better)",
                  480, legend=current is not None)


def _positions(frame: pd.DataFrame, current: tuple[float, float, str] | None) -> list[str]:
    """Each label right of its point, except under-right where the large current-setting star would cover it
    (a point within 4 % of either axis's span from the star)."""
    out = ["middle right"] * len(frame)
    if current is None or current[0] != current[0] or current[1] != current[1]:
        return out
    xs, ys = frame["diversity"].to_numpy(float), frame["relevance"].to_numpy(float)
    dx = (max(xs.max(), current[0]) - min(xs.min(), current[0])) or 1.0
    dy = (max(ys.max(), current[1]) - min(ys.min(), current[1])) or 1.0
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if abs(x - current[0]) <= 0.04 * dx and abs(y - current[1]) <= 0.04 * dy:
            out[i] = "bottom right"
    return out


def _uncrowded(labels: list[str], frame: pd.DataFrame) -> list[str]:
    """Drop a label whose point sits within a label's size (a quarter of the x span wide, 7 % of the y span
    high) of a point already labelled: close points' labels were drawn over each other. Hover still names
    every point."""
    xs, ys = frame["diversity"].to_numpy(float), frame["relevance"].to_numpy(float)
    dx, dy = (xs.max() - xs.min()) or 1.0, (ys.max() - ys.min()) or 1.0
    kept: list[int] = []
    out = [""] * len(labels)
    for i, label in enumerate(labels):
        if label and all(abs(xs[i] - xs[j]) > 0.25 * dx or abs(ys[i] - ys[j]) > 0.07 * dy for j in kept):
            out[i] = label
            kept.append(i)
    return out


def _labels(frame: pd.DataFrame) -> list[str]:
    """Point labels: λ values that give the same point share one label ("λ = 0–0.2"); otherwise every other
    tenth is labelled, since neighbouring points can sit close together."""
    lam, xy = frame["lambda"].tolist(), list(zip(frame["diversity"], frame["relevance"], strict=True))
    out = [""] * len(lam)
    i = 0
    while i < len(lam):
        j = i
        while j + 1 < len(lam) and xy[j + 1] == xy[i]:
            j += 1
        if j > i:
            out[j] = f"λ = {lam[i]:g}–{lam[j]:g}"
        elif round(lam[i] * 10) % 2 == 0:
            out[i] = f"λ = {lam[i]:g}"
        i = j + 1
    return out
