"""Issue 22: no raw value reaches the screen. After training every stage, every page's text (markdown,
captions, metrics, options, table cells and headers, chart titles, legends, ticks and labels) is scanned for
"nan", "None", code keys (``binary:logistic``, ``content_id`` …) and "0.000"."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("[0-9]*_*.py"))
TINY = {"data": "world", "g_users": "300", "g_items": "120", "g_inter": "6000", "s3_epochs": "3"}
RAW = [
    (re.compile(r"(?<![\w.])nan(?![\w])", re.IGNORECASE), "a NaN"),
    (re.compile(r"\bNone\b"), "Python's None"),
    (re.compile(r"\b(?:binary|rank|reg|multi):[a-z]+"), "an XGBoost objective key"),
    (re.compile(r"\b(?:content_id|user_id|item_pos|impression_id)\b"), "a column key"),
    (re.compile(r"(?<![\d.])[+-]?0\.000(?!\d*[1-9])"), "a value printed as 0.000"),
    (re.compile(r"\b(?:auc|logloss|ndcg|map)\b \("), "a metric key as a label"),
]
RAW_COLUMNS = {"rank", "title", "topic", "age_days", "score"}  # table headers that are still code keys


@pytest.fixture(autouse=True)
def _sync_training(monkeypatch):
    monkeypatch.setenv("LAB_SYNC_TRAINING", "1")


def _chart_text(spec: dict) -> Iterator[str]:
    """Text a Plotly figure draws: titles, trace names, text labels, tick labels, annotations."""
    layout = spec.get("layout", {})
    yield str(layout.get("title", {}).get("text", ""))
    for key, axis in layout.items():
        if key.startswith(("xaxis", "yaxis")) and isinstance(axis, dict):
            yield str(axis.get("title", {}).get("text", ""))
            yield from map(str, axis.get("ticktext", []) or [])
    for ann in layout.get("annotations", []) or []:
        yield str(ann.get("text", ""))
    for trace in spec.get("data", []):
        if trace.get("showlegend", True) and trace.get("name"):
            yield str(trace["name"])
        text = trace.get("text")
        if isinstance(text, list):
            yield from map(str, text)
        elif text:
            yield str(text)
        node = trace.get("node", {})
        yield from map(str, node.get("label", []) or [])


def screen_text(at: AppTest) -> Iterator[tuple[str, str]]:
    """(where, text) for everything a person reads on the page."""
    for kind in ("markdown", "caption", "info", "warning", "success", "error", "title", "header", "subheader",
                 "text"):
        for el in at.get(kind):
            yield kind, str(el.value)
    for m in at.metric:
        yield "metric", f"{m.label}: {m.value} {m.proto.delta}"
    for kind in ("selectbox", "radio", "multiselect", "select_slider"):
        for w in at.get(kind):
            yield kind, f"{w.label}: {list(w.options)}"
    for kind in ("button", "toggle", "checkbox", "slider", "number_input", "expander", "tab"):
        for w in at.get(kind):
            yield kind, str(getattr(w, "label", ""))
    for df in at.dataframe:
        frame = df.value
        if isinstance(frame, pd.DataFrame):
            yield "table header", " | ".join(map(str, frame.columns))
            for col in frame.columns:
                if frame[col].dtype == object:
                    yield f"table column {col}", " | ".join(map(str, frame[col].tolist()))
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        title = str(spec.get("layout", {}).get("title", {}).get("text", ""))[:50]
        for text in _chart_text(spec):
            yield f"chart {title!r}", text


def raw_values(at: AppTest) -> list[str]:
    found = []
    for where, text in screen_text(at):
        for pattern, what in RAW:
            m = pattern.search(text)
            if m:
                found.append(f"{what} in {where}: …{text[max(0, m.start() - 50):m.end() + 30]}…")
        if where == "table header":
            keys = RAW_COLUMNS.intersection(text.split(" | "))
            if keys:
                found.append(f"code keys as table headers {sorted(keys)}: {text[:120]}")
    return found


@pytest.mark.timeout(900)
def test_no_raw_value_on_any_page_after_training():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.query_params.update(TINY)
    at.run()
    at.button(key="train_all").click().run()
    assert not at.exception, [e.message for e in at.exception]
    problems = {}
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, [e.message for e in at.exception])
        if found := raw_values(at):
            problems[page] = found
        alts = [m.value for m in at.markdown if 'class="lab-sr-only"' in m.value]
        assert len(alts) == len(at.get("plotly_chart")), (page, "every chart has a text alternative", alts)
    assert not problems, "\n".join(f"{p}:\n  " + "\n  ".join(f) for p, f in problems.items())


def test_the_preset_box_says_custom_once_the_sliders_match_no_preset():
    at = AppTest.from_file(str(ROOT / "pages/1_Labels.py"), default_timeout=240)
    at.query_params.update(TINY)
    at.run()
    assert at.selectbox(key="preset").placeholder == "Notebook defaults"
    at.slider(key="w_share").set_value(5.0).run()
    assert at.selectbox(key="preset").placeholder.startswith("Custom")
    at.selectbox(key="preset").set_value("Punish hides").run()  # choosing a preset applies it
    from ranking.prep.labels import PRESETS

    assert at.slider(key="w_hide").value == PRESETS["Punish hides"].w_hide
    assert at.slider(key="w_share").value == PRESETS["Punish hides"].w_share
    assert at.selectbox(key="preset").placeholder == "Punish hides"
    assert at.selectbox(key="preset").value is None  # the box names the match; it holds no choice of its own


@pytest.mark.timeout(900)
def test_a_weight_move_marks_what_moved_in_the_feed():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.query_params.update(TINY)
    at.run()
    at.button(key="train_all").click().run()
    at.switch_page("pages/5_Feed.py").run()
    assert not [m for m in at.markdown if "Since the last change" in m.value]  # nothing to compare with yet
    at.switch_page("pages/1_Labels.py").run()
    at.slider(key="w_share").set_value(5.0).run()
    at.slider(key="w_hide").set_value(0.0).run()
    at.switch_page("pages/5_Feed.py").run()
    assert not at.exception
    line = [m.value for m in at.markdown if "Since the last change" in m.value]
    assert line
    assert "moved" in line[0] or "entered" in line[0], line
    assert any("-badge[↑" in m.value or "-badge[new]" in m.value for m in at.markdown)


@pytest.mark.timeout(900)
def test_a_dataset_never_trained_is_not_called_stale():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.query_params.update(TINY)
    at.run()
    at.button(key="train_all").click().run()
    at.number_input(key="g_seed").set_value(at.number_input(key="g_seed").value + 1).run()  # another world
    assert not at.exception
    badges = [m.value for m in at.sidebar.markdown if "badge[" in m.value]
    assert badges
    assert all("not trained" in b for b in badges), badges


@pytest.mark.timeout(900)
def test_a_weight_move_says_what_moved_on_rank_shifts():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.query_params.update(TINY)
    at.run()
    at.button(key="train_all").click().run()
    at.switch_page("pages/5_Rank_shifts.py").run()
    at.switch_page("pages/1_Labels.py").run()
    at.slider(key="w_share").set_value(5.0).run()
    at.slider(key="w_hide").set_value(0.0).run()
    at.switch_page("pages/5_Rank_shifts.py").run()
    assert not at.exception
    line = [m.value for m in at.markdown if "Since the last change" in m.value]
    assert line, [m.value for m in at.markdown][:5]
    assert "Since last change" in list(at.dataframe[0].value.columns)
