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
    # per impression: the official MIND metrics, with the split stated and every list named for people
    assert "Per impression: the official MIND metrics" in subheaders
    captions = " ".join(c.value for c in at.caption)
    assert "Split: impression split: each user's latest 20% of impressions held out whole" in captions
    assert "none cut" in captions
    per_imp = shown["Per impression: does each list put the clicked candidates first?"]
    rows = {t["name"] for t in per_imp["data"]}
    assert {"Stage 2 XGBoost", "Popularity (smoothed CTR)", "Random order"} <= rows
    assert all(t["error_y"]["array"] is not None for t in per_imp["data"])
    assert list(per_imp["data"][0]["x"]) == ["AUC", "MRR", "nDCG@5", "nDCG@10"]
    tables = [t.value for t in at.dataframe]
    frame = next(t for t in tables if "nDCG@10" in t.columns)
    assert "nan" not in frame.to_string().lower()
    assert "Stage 2 · XGBoost" in frame.iloc[:, 0].tolist()
    # off-policy estimates: intervals on the agreement chart, paired differences with the truth, every estimator
    agree_bars = [t for t in agree["data"] if t.get("error_y") and t["error_y"].get("array") is not None]
    assert {t["name"].split(" ·")[0] for t in agree_bars} >= {"IPS", "Clipped IPS", "SNIPS", "Doubly robust"}
    diffs = next(t for t in tables if "True difference" in t.columns)
    assert "Stage 2 · XGBoost → Final list" in diffs["Lists"].tolist()
    assert all(("holds the truth" in c) or ("misses the truth" in c) for c in diffs["Doubly robust"])
    estimates = next(t for t in tables if "Effective sample size" in t.columns)
    assert {"IPS", "Clipped IPS", "SNIPS", "Doubly robust", "True policy value"} <= set(estimates.columns)
    assert "nan" not in estimates.to_string().lower()
