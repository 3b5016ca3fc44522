"""The Post-processing and Feed pages and presenter mode under AppTest (one small world trained once)."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from test_pages import app, assert_clean, chart

POST, FEED, RANK = "pages/4_Stage_4_Post_processing.py", "pages/5_Feed.py", "pages/5_Rank_shifts.py"


def values(data) -> list:
    """A figure array from its JSON: plotly sends numbers as typed base64 ("bdata")."""
    if isinstance(data, dict) and "bdata" in data:
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=np.dtype(data["dtype"])).tolist()
    return list(data)


@pytest.fixture(autouse=True)
def _sync_training(monkeypatch):
    monkeypatch.setenv("LAB_SYNC_TRAINING", "1")


@pytest.fixture(scope="module")
def trained():
    """One AppTest session with every stage trained on the tiny world (shared: pages only read it)."""
    import os

    os.environ["LAB_SYNC_TRAINING"] = "1"
    at = app("app.py")
    at.run()
    at.button(key="train_all").click().run()
    assert_clean(at)
    return at


def test_post_page_before_training_says_what_to_do():
    at = app(POST)
    at.run()
    assert_clean(at)
    assert any("train all stages first" in i.value for i in at.info)
    assert at.slider(key="post_m").value == 10


def test_post_page_curve_and_swaps(trained):
    at = trained
    at.switch_page(POST).run()
    assert_clean(at)
    curve = chart(at, "Relevance vs diversity")
    line, star = curve["data"]
    assert len(values(line["x"])) == 11  # λ = 0, 0.1, …, 1
    labels = [t for t in line["text"] if t]
    assert len(labels) >= 3
    assert all(t.startswith("λ = ") for t in labels)
    assert star["name"] == "current setting (MMR λ = 0.8)"
    assert curve["layout"]["yaxis"]["title"]["text"].startswith("Oracle NDCG@10")
    # λ = 0.8 is one of the swept points: the star sits on it
    i = [round(v, 1) for v in values(line["customdata"])].index(0.8)
    assert values(star["x"])[0] == pytest.approx(values(line["x"])[i])
    assert values(star["y"])[0] == pytest.approx(values(line["y"])[i])

    at.slider(key="post_lambda").set_value(0.3).run()
    assert_clean(at)
    star = chart(at, "Relevance vs diversity")["data"][1]
    assert star["name"] == "current setting (MMR λ = 0.3)"
    assert at.query_params["post_lambda"] == "0.3"  # travels in the lesson link
    frame = at.dataframe[0].value
    assert list(frame.columns[:2]) == ["Setting", "In / out"]
    assert set(frame["In / out"]) <= {"in", "out"}

    at.slider(key="post_floor").set_value(0.5).run()
    at.slider(key="post_age").set_value(24.0).run()
    assert_clean(at)
    steps = set(at.dataframe[0].value["Setting"]) if at.dataframe else set()
    assert {s.split(" ")[0] for s in steps} <= {"Quality", "Age", "Diversity:"}
    assert int(at.metric[0].value.replace(",", "")) > 0  # the floor and the age limit dropped items


def test_feed_page_shows_cards_beside_the_best_feed(trained):
    at = trained
    at.switch_page(FEED).run()
    assert_clean(at)
    heads = [m.value for m in at.markdown if m.value.startswith("## ")]
    assert any(h.startswith("## Today's feed") for h in heads)
    assert "## Truly best feed (current weights)" in heads
    cards = [m.value for m in at.markdown if m.value.startswith("**1. ")]
    assert len(cards) == 2  # rank 1 of today's feed and of the best feed
    assert any("items are in both feeds" in m.value for m in at.markdown)
    at.radio(key="feed_stage").set_value("stage1").run()
    assert_clean(at)


def test_presenter_mode_from_the_lesson_link_survives_page_switches():
    at = app("app.py", presenter="1")
    at.run()
    at.switch_page(POST).run()
    assert_clean(at)
    assert at.toggle(key="presenter").value is True
    assert at.expander, "the intro is collapsed under an expander"
    assert at.query_params["presenter"] == "1"
    at.switch_page(RANK).run()
    assert_clean(at)
    assert at.toggle(key="presenter").value is True
    assert at.query_params["presenter"] == "1"
    at.toggle(key="presenter").set_value(False).run()
    assert "presenter" not in at.query_params


def test_presenter_mode_enlarges_chart_text(trained):
    at = trained
    at.switch_page(POST).run()
    normal = chart(at, "Relevance vs diversity")["layout"]
    at.toggle(key="presenter").set_value(True).run()
    assert_clean(at)
    big = chart(at, "Relevance vs diversity")["layout"]
    assert big["font"]["size"] > normal["font"]["size"] >= 16
    assert big["title"]["font"]["size"] > normal["title"]["font"]["size"]
    assert any("stSidebar" in json.dumps(str(h.proto)) for h in at.get("html"))
    at.toggle(key="presenter").set_value(False).run()
