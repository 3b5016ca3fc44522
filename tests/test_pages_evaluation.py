"""The Evaluation page's baseline, counterfactual and beyond-accuracy sections under Streamlit's AppTest."""

from __future__ import annotations

import pytest
from test_pages import app, assert_clean, charts


@pytest.fixture(autouse=True)
def _sync_training(monkeypatch):
    monkeypatch.setenv("LAB_SYNC_TRAINING", "1")


def test_evaluation_page_shows_baselines_estimates_and_beyond_accuracy():
    at = app("app.py")  # the small generated world (test_pages.TINY)
    at.run()
    at.button(key="train_all").click().run()
    assert_clean(at)
    at.switch_page("pages/6_Evaluation.py").run()
    assert_clean(at)
    shown = charts(at)
    oracle = shown["Oracle NDCG@10: learned stages vs simple baselines"]
    lines = [t["name"].split(":")[0] for t in oracle["data"] if t["type"] == "scatter"]
    assert {"Popularity (click count)", "Popularity (smoothed CTR)", "Affinity + quality heuristic",
            "Freshness heuristic", "Per-signal GLM", "Logistic regression"} <= set(lines)
    assert "NDCG@10: learned stages vs simple baselines" in shown  # held-out metric: its own axis
    agree = shown["Which estimate orders the stages like the truth?"]
    names = [t["name"] for t in agree["data"]]
    assert names[0] == "Truth (oracle NDCG)"
    assert any(n.startswith("IPS · τ") for n in names)
    assert any(n.startswith("SNIPS · τ") for n in names)
    assert any(title.startswith("Beyond accuracy") for title in shown)
    subheaders = [s.value for s in [*at.subheader, *at.header]]  # sections are h2 (st.header) since issue 22
    assert "Counterfactual estimates from the logged propensities" in subheaders
    assert not [i.value for i in at.info if "unavailable" in i.value]  # a generated world logs propensities
