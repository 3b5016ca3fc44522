"""The Evaluation page's baseline, counterfactual and beyond-accuracy sections under Streamlit's AppTest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
TINY = {"data": "world", "g_users": "300", "g_items": "120", "g_inter": "6000", "s3_epochs": "3"}


@pytest.fixture(autouse=True)
def _sync_training(monkeypatch):
    monkeypatch.setenv("LAB_SYNC_TRAINING", "1")


def _charts(at: AppTest) -> dict[str, dict]:
    out = {}
    for element in at.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        out[spec["layout"]["title"]["text"].split("<br>")[0]] = spec
    return out


def test_evaluation_page_shows_baselines_estimates_and_beyond_accuracy():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.query_params.update(TINY)
    at.run()
    at.button(key="train_all").click().run()
    assert not at.exception, [e.message for e in at.exception]
    at.switch_page("pages/6_Evaluation.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    charts = _charts(at)
    oracle = charts["Oracle NDCG@10: learned stages vs simple baselines"]
    lines = [t["name"].split(":")[0] for t in oracle["data"] if t["type"] == "scatter"]
    assert {"Popularity", "Affinity + quality heuristic", "Logistic regression"} <= set(lines)
    assert "NDCG@10: learned stages vs simple baselines" in charts  # held-out metric: its own axis
    agree = charts["Which estimate orders the stages like the truth?"]
    names = [t["name"] for t in agree["data"]]
    assert names[0] == "Truth (oracle NDCG)"
    assert any(n.startswith("IPS · τ") for n in names)
    assert any(n.startswith("SNIPS · τ") for n in names)
    assert any(title.startswith("Beyond accuracy") for title in charts)
    subheaders = [s.value for s in at.subheader]
    assert "Counterfactual estimates from the logged propensities" in subheaders
    assert not [i.value for i in at.info if "unavailable" in i.value]  # a generated world logs propensities
