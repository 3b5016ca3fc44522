"""The Evaluation page's seed check under AppTest: button → study → chart, table and verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
TINY = {"data": "world", "g_users": "300", "g_items": "120", "g_inter": "6000", "s3_epochs": "2",
        "s2_trees": "40"}


@pytest.fixture(autouse=True)
def _sync_training(monkeypatch):
    monkeypatch.setenv("LAB_SYNC_TRAINING", "1")


def _clean(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _chart(at: AppTest, title_start: str) -> dict:
    for element in at.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        if spec["layout"]["title"]["text"].startswith(title_start):
            return spec
    raise AssertionError(f"no chart titled {title_start!r}")


def test_seed_check_shows_one_dot_per_seed_and_a_verdict_per_step():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.query_params.update(TINY)
    at.run()
    at.button(key="train_all").click().run()
    _clean(at)
    at.switch_page("pages/6_Evaluation.py").run()
    _clean(at)
    assert at.button(key="seed_study").label == "Check across 3 training seeds"
    assert any("Verdict rule" in c.value for c in at.caption)
    assert not any("more than noise" in c.value for c in at.caption)  # the users-only test is not the verdict

    at.button(key="seed_study").click().run()
    _clean(at)
    spec = _chart(at, "Does each step help, across training seeds?")
    seeds = [t for t in spec["data"] if t["name"].startswith("seed ")]
    assert [t["name"] for t in seeds] == ["seed 42", "seed 43", "seed 44"]
    steps = ["Stage 1 → Stage 2", "Stage 2 → Stage 3", "Stage 3 → Final"]
    assert all(t["y"][:3] == steps for t in seeds)  # one dot per seed on every step, then each baseline → final
    assert all(len(t["y"]) == 9 for t in seeds)
    assert "GLM → Final" in seeds[0]["y"]
    assert any(shape.get("x0") == 0 for shape in spec["layout"]["shapes"])  # the zero line
    verdicts = {a["text"] for a in spec["layout"]["annotations"]}
    assert verdicts <= {"<b>helps</b>", "<b>hurts</b>", "<b>not distinguishable</b>"}
    assert spec["layout"]["xaxis"]["title"]["text"].startswith("change in Oracle NDCG@10")
    table = next(d.value for d in at.dataframe if "Comparison (A → B)" in d.value.columns)  # the seed table
    assert list(table["Comparison (A → B)"])[:3] == steps
    assert {"Seed 42", "Seed 43", "Seed 44", "Mean ± SD", "Verdict"} <= set(table.columns)
    assert at.button(key="seed_study").label == "Run the seed check again"

    # another setting: the old answer is no longer shown as the current one
    at.switch_page("pages/2_Stage_1_Candidates.py").run()
    at.number_input(key="s1_k").set_value(15).run()
    at.switch_page("pages/6_Evaluation.py").run()
    _clean(at)
    titles = [json.loads(e.proto.spec)["layout"]["title"]["text"] for e in at.get("plotly_chart")]
    assert not any(t.startswith("Does each step help") for t in titles)


def test_learning_curve_draws_every_share_and_says_the_lesson_in_a_sentence():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
    at.query_params.update(TINY)
    at.run()
    at.button(key="train_all").click().run()
    at.switch_page("pages/6_Evaluation.py").run()
    _clean(at)
    assert at.button(key="learning_curve").label == "Draw the learning curve"
    at.button(key="learning_curve").click().run()
    _clean(at)
    spec = _chart(at, "How much data does each stage need?")
    lines = {t["name"]: t for t in spec["data"] if t.get("mode") == "lines+markers"}
    assert {"Final list", "Per-signal GLM", "Freshness heuristic"} <= set(lines)
    assert all(len(t["x"]) == 4 for t in lines.values())  # 10, 25, 50 and 100 % of the log
    assert spec["layout"]["xaxis"]["ticktext"] == ["10 %", "25 %", "50 %", "100 %"]
    said = " ".join(m.value for m in at.markdown)
    assert "best transparent baseline" in said
    assert at.button(key="learning_curve").label == "Draw it again"
