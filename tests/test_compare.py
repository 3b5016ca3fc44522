"""Compare like with like: ranking/evaluation/ab.py and the Evaluation page's "Compare runs" section."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import stats
from test_pages import app, assert_clean, charts

from ranking.evaluation import ab
from ranking.evaluation.result import RunEvaluation


@pytest.fixture(autouse=True)
def _sync_training(monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_SYNC_TRAINING", "1")
    monkeypatch.setenv("LAB_RUNS_DIR", str(tmp_path))


def test_paired_difference_by_hand():
    a = np.array([0.5, 0.2, np.nan, 0.4, 0.1])
    b = np.array([0.6, 0.1, 0.9, 0.7, np.nan])
    got = ab.paired_difference(a, b)
    d = np.array([0.1, -0.1, 0.3])  # users 0, 1, 3 are measured in both
    assert got["n"] == 3
    assert got["delta"] == pytest.approx(0.1)
    sd = np.sqrt(((0.0) ** 2 + (-0.2) ** 2 + (0.2) ** 2) / 2)  # deviations from the mean 0.1
    assert got["half_width"] == pytest.approx(1.96 * sd / np.sqrt(3))
    assert got["p_value"] == pytest.approx(stats.wilcoxon(d).pvalue)
    with pytest.raises(ValueError, match="not the same users"):
        ab.paired_difference(a, b[:3])


def test_compare_takes_the_same_stage_from_both_runs():
    per = {"stage2": {"ndcg@10": np.array([0.2, 0.4])}, "final": {"ndcg@10": np.array([0.9, 0.9])}}
    a = RunEvaluation(k=10, basis="ndcg@10", stages={"stage2": {"ndcg@10": 0.3}, "final": {"ndcg@10": 0.9}},
                      per_user=per)
    b = RunEvaluation(k=10, basis="ndcg@10", stages={"stage2": {"ndcg@10": 0.5}},
                      per_user={"stage2": {"ndcg@10": np.array([0.4, 0.6])}})
    assert ab.common_stages(a, b) == ["stage2"]
    row = ab.compare(a, b, "stage2").iloc[0]
    assert (row["A"], row["B"]) == (0.3, 0.5)  # stage 2 of A, never A's final list
    assert row["B − A"] == pytest.approx(0.2)
    assert row["users"] == 2
    with pytest.raises(ValueError, match="both runs"):
        ab.compare(a, b, "final")


def test_pin_retrain_and_compare_survives_a_fresh_session():
    at = app("app.py")
    at.run()
    at.button(key="train_all").click().run()
    at.switch_page("pages/6_Evaluation.py").run()
    first = at.query_params["run"]
    at.button(key="pin_button").click().run()
    assert_clean(at)
    assert at.query_params["pin"] == first
    at.switch_page("pages/3_Stage_2_GBDT.py").run()
    at.slider(key="s2_depth").set_value(2)
    at.get("form_submit_button")[0].click().run()
    assert_clean(at)
    assert "was trained with other settings" in " ".join(m.value for m in at.markdown)  # stage 3, not greyed
    at.button(key="stale_retrain").click().run()  # the banner's Retrain: stage 3 on the new stage 2
    assert_clean(at)
    second = at.query_params["run"]
    assert second != first
    at.switch_page("pages/6_Evaluation.py").run()
    assert_clean(at)
    _assert_comparison(at)

    fresh = app("app.py", run=second, pin=first)
    fresh.run()
    fresh.switch_page("pages/6_Evaluation.py").run()
    assert_clean(fresh)
    _assert_comparison(fresh)


def _assert_comparison(at) -> None:
    text = " ".join(m.value for m in at.markdown)
    assert "A → B:" in text
    assert "Max depth 3 → 2" in text
    assert at.selectbox(key="ab_stage").value == "final"
    verdict = r"B is (better than|worse than|not distinguishable from) A on \S+ NDCG@\d+: [+-]\d\.\d{3} ± "
    assert re.search(verdict, text)
    bumps = [t for t in charts(at) if t.startswith(("A (pinned): user", "B (now): user"))]
    assert len(bumps) == 2, list(charts(at))


def test_verdict_from_the_interval():
    from ranking.evaluation.ab import verdict

    assert verdict(0.02, 0.01, "oracle_ndcg@10") == "better"
    assert verdict(-0.02, 0.01, "oracle_ndcg@10") == "worse"
    assert verdict(0.005, 0.01, "oracle_ndcg@10") == "not distinguishable"  # 0 inside 0.005 ± 0.01
    assert verdict(-0.02, 0.01, "exposure_gini@10") == "better"  # lower is better
    assert verdict(0.02, float("nan"), "ndcg@10") == "not measurable"


def test_verdict_sentence_names_the_metric_and_the_interval():
    import pandas as pd

    from ranking.evaluation.ab import COLUMNS, verdict_sentence

    table = pd.DataFrame([["Oracle NDCG@10", 0.5, 0.512, 0.012, 0.008, 0.01, 600]], columns=list(COLUMNS))
    word, sentence = verdict_sentence(table, "oracle_ndcg@10")
    assert word == "better"
    assert sentence == "B is better than A on Oracle NDCG@10: +0.012 ± 0.008 (95% interval over 600 users)"
