"""Presenter mode and projector-ready output: every page's charts and tables go through here.

Presenter mode (a toggle, and ``presenter=1`` in the lesson link) enlarges chart and table text,
collapses the page intros and hides the sidebar. ``chart`` draws a figure with its own projector
style (Streamlit's theme would shrink the fonts to 12.75 px grey); ``table`` shows a frame with
display names, three significant digits and "—" for gaps (``ranking.viz.tables``).
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ranking.viz.style import BASE_FONT, TITLE_FONT, describe, fit_header
from ranking.viz.tables import readable

from . import tour

KEY = "presenter"
SCALE = 1.4  # chart text and heights in presenter mode
_CSS = """
<style>
section[data-testid="stSidebar"], div[data-testid="stSidebarCollapsedControl"],
button[data-testid="stExpandSidebarButton"] { display: none !important; }
div[data-testid="stMainBlockContainer"] { max-width: 100%; padding-left: 2rem; padding-right: 2rem; }
div[data-testid="stMarkdownContainer"] p, div[data-testid="stMarkdownContainer"] li,
div[data-testid="stCaptionContainer"], div[data-testid="stCaptionContainer"] * {
    font-size: 1.35rem !important; color: #222 !important; }
div[data-testid="stTable"] table { font-size: 1.3rem; }
button[kind^="primary"] div[data-testid="stMarkdownContainer"] p { color: #ffffff !important; }  /* on blue */
div[data-testid="stMetric"] div[data-testid="stMetricValue"],
div[data-testid="stMetric"] div[data-testid="stMetricValue"] * { font-size: 2.6rem !important; line-height: 1.2; }
div[data-testid="stMetric"] div[data-testid="stMetricDelta"] * { font-size: 1.2rem !important; }
div[data-baseweb="select"] div, div[data-baseweb="input"] input, textarea,
div[data-testid="stNumberInputContainer"] input { font-size: 1.3rem !important; }
div[data-testid="stSliderThumbValue"], div[data-testid="stSliderThumbValue"] * { font-size: 1.2rem !important; }
div[data-testid="stSlider"] > div[role="group"] { margin-top: 1.4rem; }  /* room for the larger value */
button:disabled { opacity: 0.4; }
</style>
"""


# Always on: Streamlit draws captions, help text and metric labels in the text colour at 60 % opacity
# (#717579 on the grey panels, 4.25:1; #909397 on white, 3.1:1; WCAG AA needs 4.5:1); this grey is
# 8:1 on white and 7:1 on #f3f5f8.
_BASE_CSS = """
<style>
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] *,
[data-testid="stMetricLabel"] *, [data-testid="stWidgetLabel"] small,
[data-testid="stMarkdownContainer"] small { color: #464b52 !important; }
[data-testid="stCaptionContainer"] { opacity: 1 !important; }  /* Streamlit fades captions to 60 % */
/* a chart's text alternative: read by screen readers, drawn nowhere, and out of the flow (no extra gap) */
.lab-sr-only { position: absolute; width: 1px; height: 1px; margin: -1px; overflow: hidden;
               clip-path: inset(50%); white-space: nowrap; }
[data-testid="stElementContainer"]:has(.lab-sr-only) { position: absolute; width: 1px; height: 1px;
                                                       overflow: hidden; clip-path: inset(50%); }
/* page sections are h2 (st.header) under the page's h1, sized like the h3 they were: h1 → h3 skipped a level */
[data-testid="stMain"] h2 { font-size: 1.6rem; }
</style>
"""


def on() -> bool:
    """Whether presenter mode is on: the toggle's state, else the lesson link's ``presenter`` parameter."""
    if KEY in st.session_state:
        return bool(st.session_state[KEY])
    return str(st.query_params.get(KEY, "")).lower() in ("1", "true", "yes", "on")


def adopt() -> None:
    """Keep presenter mode across a page switch made before the toggle is drawn (a lesson link with
    ``tour=N`` switches to the step's page, and a switch drops the query parameters)."""
    st.session_state[KEY] = on()


def toggle(container: Any = None) -> bool:
    """The presenter-mode switch (kept across pages and in the URL); applies the page style when on."""
    where = container if container is not None else st
    # written on every run, as the user picker does: a page's own toggle widget would otherwise start
    # from its default (off) after a page switch
    st.session_state[KEY] = on()
    where.toggle("Presenter mode", key=KEY, persist_state="session",
                 help="Large text in charts and tables, page intros collapsed, sidebar hidden. "
                      "Travels in the lesson link.")
    st.html(_BASE_CSS)
    if on():
        st.html(_CSS)
        with where.popover("Pages", icon=":material/menu:"):  # the sidebar, and its page list, is hidden
            for path in sorted((Path(__file__).parents[1]).glob("[0-9]*_*.py")):
                st.page_link(f"pages/{path.name}", label=re.sub(r"^\d+_", "", path.stem).replace("_", " "))
            tour.start_button(key="tour_start_presenter")  # the sidebar's lesson button is hidden too
    return on()


def intro(text: str) -> None:
    """The page intro: shown in full, or collapsed under an expander in presenter mode."""
    if on():
        with st.expander("What this page shows"):
            st.markdown(text)
    else:
        st.markdown(text)


def scaled(fig: go.Figure, scale: float = SCALE) -> go.Figure:
    """A copy of ``fig`` with every font and the height enlarged by ``scale``."""
    out = go.Figure(fig)
    lay = out.layout
    out.update_layout(font_size=round((lay.font.size or BASE_FONT) * scale),
                      title_font_size=round((lay.title.font.size or TITLE_FONT) * scale),
                      hoverlabel_font_size=round(BASE_FONT * scale))
    out.update_xaxes(automargin=True)  # larger tick labels and axis titles need more room than the fixed margins
    out.update_yaxes(automargin=True)
    if lay.height:
        out.update_layout(height=round(lay.height * min(scale, 1.25)))
    for ann in out.layout.annotations or ():
        if ann.font and ann.font.size:
            ann.font.size = round(ann.font.size * scale)
    for trace in out.data:
        font = getattr(trace, "textfont", None)
        if font is not None and font.size:
            font.size = round(font.size * scale)
    return fit_header(out)  # larger title and legend text need a taller header band


def chart(fig: go.Figure, key: str | None = None, container: Any = None, alt: str | None = None) -> None:
    """Draw a chart in the library's projector style (larger in presenter mode), with a text alternative for
    screen readers (``alt``, else its title and series, ``ranking.viz.style.describe``) that takes no space."""
    where = container if container is not None else st
    where.plotly_chart(scaled(fig) if on() else fig, key=key, theme=None)
    where.markdown(f'<p class="lab-sr-only">Chart: {html.escape(alt or describe(fig))}</p>', unsafe_allow_html=True)


def table(frame: pd.DataFrame, container: Any = None, index: bool = False, pin: int = 1, **kwargs: Any) -> None:
    """Show a frame for people: display names, 3 significant digits, thousands separators, "—" for gaps; the
    first ``pin`` columns stay in view when a wide table scrolls sideways at 1366 px."""
    where = container if container is not None else st
    shown = readable(frame, index=index)
    config = {c: st.column_config.Column(pinned=True) for c in shown.columns[:pin]}
    where.dataframe(shown, hide_index=True, column_config=config, row_height=48 if on() else None, **kwargs)
