"""The projector style every chart shares: palette, stage colours and labels, fonts, helpers.

Where it sits: under ``ranking.viz.charts`` and ``ranking.viz.stage_charts``; nothing here draws a chart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from ranking.errors import DataError

# Okabe & Ito (2008), "Color Universal Design": distinguishable under the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
STAGE_COLORS = {"stage1": "#56B4E9", "stage2": "#E69F00", "stage3": "#009E73", "final": "#CC79A7"}
STAGE_ORDER = tuple(STAGE_COLORS)
STAGE_LABELS = {"stage1": "Stage 1<br>candidates", "stage2": "Stage 2<br>XGBoost",
                "stage3": "Stage 3<br>neural", "final": "Final"}
GOOD, NEUTRAL, BAD = "#009E73", "#BBBBBB", "#D55E00"
TRAIN_COLOR, VALID_COLOR = "#0072B2", "#E69F00"
EMPTY_MESSAGE = "nothing to show yet"

BASE_FONT, TITLE_FONT = 16, 22
TEXT_COLOR = "#111111"  # dark text: light grey vanishes on a projector
MIN_HEIGHT = 320  # px; a short bar chart with a title and legend is unreadable below this
_LOWER_IS_BETTER = ("loss", "logloss", "mlogloss", "error", "rmse", "mae", "mse")
TEMPLATE = pio.templates["plotly_white"]

def _style(fig: go.Figure, title: str, x: str | None, y: str | None, height: int,
           legend: bool = False) -> go.Figure:
    """Apply the projector layout: title, axis titles, fonts, template, margins, height, legend."""
    # plotly_white without re-validating it: as update_layout(template=...), plotly checks the whole
    # template every time (~20 ms a figure, most of a page's script run; ten sessions clicking at once
    # queue behind it); plotly itself skips the check when it applies its default template (~1 ms)
    layout = fig.layout
    layout._validate = False
    try:
        layout.template = TEMPLATE
    finally:
        layout._validate = fig._validate
    fig.update_layout(
        title={"text": title, "font": {"size": TITLE_FONT}, "x": 0.01, "xanchor": "left"},
        height=max(int(height), MIN_HEIGHT), font={"size": BASE_FONT, "color": TEXT_COLOR},
        hoverlabel={"font": {"size": BASE_FONT}}, showlegend=legend,
        margin={"l": 80, "r": 40, "b": 70},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
    )
    fit_header(fig)
    if x is not None:
        fig.update_xaxes(title_text=x)
    if y is not None:
        fig.update_yaxes(title_text=y)
    return fig


def fit_header(fig: go.Figure) -> go.Figure:
    """Stack the title (and its ``<br>`` subtitle lines) and a legend above the plot from the figure's top edge
    down, in pixels, so none is drawn over another at any font size or legend length.

    Plotly places a title in the top margin by proportion and a top legend upwards from the plot, so a legend
    that wraps to more rows (a narrow column, presenter-size fonts) ran into the title. Here the title sits at a
    fixed distance from the top of the figure and the legend hangs below it (both measured in the container);
    a container-anchored legend pushes the plot down by its own height. Call again after changing fonts or height.
    """
    lay = fig.layout
    height = lay.height or 450
    size = lay.title.font.size or TITLE_FONT
    lines = str(lay.title.text or "").split("<br>")
    # Plotly anchors a title's first line and stacks its subtitle lines (<sup>, ~70 % size) *above* it, each
    # ~0.95 × the title size (measured in Chromium); the first line's box ends ~1.05 × size below its anchor
    rise = 0.95 * size * (len(lines) - 1)
    anchor = 10 + rise
    block = anchor + 1.05 * size + 8 if lines[0].strip() or len(lines) > 1 else 6
    fig.update_layout(title={"yref": "container", "y": 1 - anchor / height, "yanchor": "top"})
    legend = lay.legend
    on_top = lay.showlegend is not False and legend.orientation == "h" and (legend.y is None or legend.y >= 1
                                                                             or legend.yref == "container")
    if on_top:
        fig.update_layout(legend={"yref": "container", "y": 1 - (block + 6) / height, "yanchor": "top"})
    elif legend.yref == "container":  # a chart moved its legend elsewhere after ``_style``
        fig.update_layout(legend={"yref": "paper"})
    fig.update_layout(margin={"t": round(block + (40 if on_top else 16))})
    return fig


def describe(fig: go.Figure) -> str:
    """A short text alternative for a chart: its title and subtitle, then what it draws (the named series)."""
    text = re.sub(r"<[^>]+>", " ", str(fig.layout.title.text or "")).replace("&lt;", "<").replace("&gt;", ">")
    text = re.sub(r"\s+", " ", text).strip() or "Chart"
    notes = [a.text for a in fig.layout.annotations or () if a.text and a.text == EMPTY_MESSAGE]
    if notes:
        return f"{text}: {EMPTY_MESSAGE}."
    series = list(dict.fromkeys(t.name for t in fig.data if t.name and t.showlegend is not False))
    kinds = sorted({t.type for t in fig.data})
    what = f" {len(series)} series: {', '.join(series[:8])}" + (" …" if len(series) > 8 else "") if series else ""
    return f"{text}. A {'/'.join(kinds)} chart.{what}".rstrip(".") + "."


def _empty(title: str, height: int = 360, message: str = EMPTY_MESSAGE) -> go.Figure:
    """A placeholder figure for inputs with nothing to draw (e.g. before the first run)."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font={"size": BASE_FONT + 4, "color": "#777777"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _style(fig, title, None, None, height)


def _fmt(v: float) -> str:
    """Short human number, 3 significant digits: 300, 231, 0.412, 12,345; '—' for NaN/None."""
    if v is None or pd.isna(v):
        return "—"
    v = float(v)
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.0f}" if v == round(v) else f"{v:.3g}"


def _color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _stage_label(stage: str, sep: str = "<br>") -> str:
    return STAGE_LABELS.get(stage, str(stage)).replace("<br>", sep)


def _require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{what}: missing column(s) {missing}; got {list(frame.columns)}")


def _direction(metric: str) -> str:
    base = metric.split("@")[0].lower()
    return "lower is better" if base in _LOWER_IS_BETTER else "higher is better"


def _mode(n: int) -> str:
    # Markers keep a 1-point (live) series visible; beyond ~40 points they only add noise.
    return "lines+markers" if n < 40 else "lines"
