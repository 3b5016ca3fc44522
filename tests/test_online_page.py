"""The Online test page under AppTest: A/B table and chart, interleaving, impressions needed, the loop job."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_seed_page import _chart, _clean

ROOT = Path(__file__).resolve().parents[1]
PAGE = "pages/7_Online_test.py"
TINY = {"data": "world", "g_users": "300", "g_items": "120", "g_inter": "6000", "s3_epochs": "2", "s2_trees": "40"}


@pytest.fixture(autouse=True)
def _sync_training(monkeypatch):
    monkeypatch.setenv("LAB_SYNC_TRAINING", "1")
    monkeypatch.setenv("LAB_TRAIN_ON_START", "0")


def _open() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.query_params.update(TINY)
    at.run()
    at.switch_page(PAGE).run()
    _clean(at)
    return at


def test_ab_test_interleaving_and_impressions_needed_on_a_generated_world():
    at = _open()
    assert at.selectbox(key="online_a").value == "popularity"  # nothing trained or pinned: the references
    assert at.selectbox(key="online_b").value == "oracle"
    at.slider(key="online_days").set_value(3)
    at.button(key="online_run_ab").click().run()
    _clean(at)
    spec = _chart(at, "What changes per impression if we ship B: oracle instead of A: popularity")
    assert spec["layout"]["xaxis"]["title"]["text"].startswith("change from A to B, % of A")
    assert len(spec["data"][0]["y"]) == 6  # five signals and the compound value
    table = at.dataframe[0].value
    assert list(table["Signal"]) == ["clicks", "dwell (s)", "shares", "comments", "hides", "compound value"]
    assert any("Team-draft interleaving" in m.value for m in at.markdown)
    assert any("oracle NDCG@10 at deployment" in str(d.value.iloc[:, 0].tolist()) for d in at.dataframe)

    at.radio(key="online_per").set_value("user").run()
    _clean(at)
    _chart(at, "What changes per user")

    at.selectbox(key="online_needed_by").set_value("value")
    at.button(key="online_needed").click().run()
    _clean(at)
    assert any("decided by compound value" in c.value for c in at.caption)
    spec = _chart(at, "How many impressions does each test need")
    assert {t["name"] for t in spec["data"]} == {"A/B test", "interleaving"}
    assert spec["layout"]["xaxis"]["type"] == "log"


def test_deploy_for_rounds_runs_the_loop_and_keeps_its_charts():
    at = _open()
    at.multiselect(key="online_loop_policies").set_value(["popularity", "oracle"])
    at.slider(key="online_rounds").set_value(2)
    at.slider(key="online_round_days").set_value(1)
    at.run()
    assert at.button(key="online_deploy").label == "Deploy for 2 rounds"
    at.button(key="online_deploy").click().run()
    _clean(at)
    spec = _chart(at, "The feedback loop")
    names = {t["name"] for t in spec["data"]}
    assert names == {"Popularity", "Oracle (the truth)"}
    table = at.dataframe[-1].value
    assert list(table.iloc[:, 1]) == ["0", "1", "2", "0", "1", "2"]  # round 0 (before) and two rounds per policy
    _chart(at, "Who gains and who loses")
    assert any("From before deployment to the last round" in m.value for m in at.markdown)
    at.run()  # results stay in the session
    _chart(at, "The feedback loop")


def test_trained_stages_are_an_arm_and_the_pipeline_retrains_in_the_loop():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
    at.query_params.update(TINY)
    at.run()
    at.button(key="train_all").click().run()
    _clean(at)
    at.switch_page(PAGE).run()
    _clean(at)
    assert at.selectbox(key="online_b").value == "current"  # B = the current settings once trained
    at.selectbox(key="online_a").set_value("random")
    at.slider(key="online_days").set_value(2)
    at.button(key="online_run_ab").click().run()
    _clean(at)
    _chart(at, "What changes per impression if we ship B: current settings instead of A: random")
    offline = next(d.value for d in at.dataframe if "Offline measure" in d.value.columns)
    assert any("held-out NDCG@10" in m for m in offline["Offline measure"])  # the run's own evaluation

    at.multiselect(key="online_loop_policies").set_value(["pipeline"])
    at.slider(key="online_rounds").set_value(1)
    at.slider(key="online_round_days").set_value(1)
    at.run()
    at.button(key="online_deploy").click().run()
    _clean(at)
    spec = _chart(at, "The feedback loop")
    assert {t["name"] for t in spec["data"]} == {"Pipeline (retrained every round)"}


def test_data_without_a_world_says_so_and_offers_one(monkeypatch, seed_dir):
    from pages.session import datasets

    monkeypatch.setattr(datasets, "SAMPLE_DIR", seed_dir)  # the seed-like tables: no world.json
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.run()
    at.switch_page(PAGE).run()
    _clean(at)
    assert any("no generated world behind it" in i.value for i in at.info)
    assert at.button(key="online_use_sample").label == "Use the bundled sample world"
    assert not at.get("plotly_chart")
