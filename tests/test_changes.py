"""Results that stay on screen (pages/ui/changes.py) and the sample world trained at first start (demo)."""

from __future__ import annotations

import dataclasses

import pytest
from test_pages import app, assert_clean, badges, metric

from pages.session import demo, estimate
from pages.session.state import LabState, Trained, stage_keys
from pages.ui import changes as X
from ranking.config import CandidateConfig, GBDTConfig, LabelConfig, PipelineConfig, PostConfig


@pytest.fixture(autouse=True)
def _sync_training(monkeypatch):
    monkeypatch.setenv("LAB_SYNC_TRAINING", "1")


def test_differences_name_each_changed_setting_with_its_label():
    a = PipelineConfig()
    b = dataclasses.replace(a, stage2=GBDTConfig(max_depth=6), stage1=CandidateConfig(k=50, filter_seen=False))
    assert X.differences(a, a) == []
    changed = X.differences(a, b)
    assert [c[0] for c in changed] == ["s1_k", "f_seen", "s2_depth"]  # the settings' own order
    assert [X.describe(c) for c in changed] == ["K candidates per user (0 = auto) 0 → 50",
                                                "Already-seen filter on → off", "Max depth 3 → 6"]


def test_setting_values_of_the_default_config_are_the_widget_defaults():
    from pages.ui import settings as W

    assert X.setting_values(PipelineConfig()) == {s.key: s.default for s in W.SETTINGS}


def test_which_changes_need_a_retrain():
    assert X.needs_retrain("s2_depth")
    assert X.needs_retrain("s1_k")
    assert X.needs_retrain("target")
    assert X.needs_retrain("threshold", target="label")  # the notebook's path learnt the 0/1 label
    assert not X.needs_retrain("threshold", target="signals")  # a value model re-ranks for any label
    assert not X.needs_retrain("post_m")
    assert not X.needs_retrain("eval_k")
    from ranking import pipeline

    # weights re-rank live once the pipeline has a value model to re-weight, and only then
    assert X.needs_retrain("w_click") == (not hasattr(pipeline, "reweight"))
    assert X.needs_retrain("w_click", target="label")


def test_trained_config_is_rebuilt_from_the_deepest_stage_key():
    cfg = PipelineConfig(seed=7, target="label", labels=LabelConfig(threshold=1.5), stage2=GBDTConfig(max_depth=5))
    keys = stage_keys(cfg, "sample")
    lab = LabState(stages={s: Trained(keys[s], None) for s in ("stage1", "stage2")})
    now = dataclasses.replace(PipelineConfig(), post=PostConfig(m=5))
    got = X.trained_config(lab, now)
    assert got == dataclasses.replace(cfg, post=PostConfig(m=5))  # post/eval: the current ones
    assert X.trained_config(LabState(), now) is None


def test_estimate_says_what_it_is_based_on():
    assert "no estimate yet" in estimate.describe("nowhere", ["stage1"], 1.0, 0.0)
    assert "from the share done so far" in estimate.describe("nowhere", ["stage1"], 10.0, 0.5)
    for seconds in (10.0, 30.0, 20.0):
        estimate.record("est-test", ["stage1"], seconds)
    assert estimate.typical("est-test", ["stage1"]) == 20.0  # the median, by hand
    assert estimate.describe("est-test", ["stage1"], 5.0, 0.1).startswith("about 15 s left")
    assert "longer than earlier runs" in estimate.describe("est-test", ["stage1"], 25.0, 0.9)


def test_after_a_setting_change_the_last_results_stay_with_a_banner_then_revert():
    at = app("app.py", target="label")  # on the label path a threshold change needs a retrain
    at.run()
    at.button(key="train_all").click().run()
    assert_clean(at)
    assert "Showing the last results" not in " ".join(m.value for m in at.markdown)
    at.switch_page("pages/1_Labels.py").run()
    at.slider(key="threshold").set_value(2.5).run()
    assert_clean(at)
    text = " ".join(m.value for m in at.markdown)
    assert "Showing the last results" in text
    assert "Threshold 2 → 2.5" in text
    at.switch_page("pages/3_Stage_2_GBDT.py").run()
    assert_clean(at)
    assert all("stale" in b for b in badges(at))
    assert int(metric(at, "Trees used")) >= 1  # the last results are still on the page
    at.button(key="stale_revert").click().run()
    assert_clean(at)
    assert at.session_state["threshold"] == 2.0
    assert all("stale" not in b for b in badges(at))
    assert "Showing the last results" not in " ".join(m.value for m in at.markdown)


def test_a_change_of_post_processing_alone_needs_no_banner():
    at = app("app.py")
    at.run()
    at.button(key="train_all").click().run()
    at.switch_page("pages/6_Evaluation.py").run()
    at.session_state["post_m"] = 5
    at.run()
    assert_clean(at)
    assert "Showing the last results" not in " ".join(m.value for m in at.markdown)


def test_the_sample_world_opens_trained_from_the_start_up_training(monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_TRAIN_ON_START", "1")
    monkeypatch.setenv("LAB_RUNS_DIR", str(tmp_path))
    monkeypatch.setattr(demo, "_JOB", None)
    job = demo.start(PipelineConfig(stage3=dataclasses.replace(PipelineConfig().stage3, epochs=2)))
    assert job is not None
    assert job.done
    assert job.error is None, job.error
    assert demo.start() is job  # once per server
    assert demo.seconds_to_trained() == job.seconds
    at = app("app.py", data="sample", s3_epochs="2")
    at.query_params.pop("g_users"), at.query_params.pop("g_items"), at.query_params.pop("g_inter")
    at.run()
    assert_clean(at)
    assert all("trained" in b and "not" not in b and "stale" not in b for b in badges(at)), badges(at)
    assert metric(at, "Stage 3")
    assert at.query_params["run"] == job.saved_run  # a lesson link from the start
    assert any("opens already trained" in c.value for c in at.caption)  # said in the page, not in a toast


def test_no_start_up_training_when_switched_off(monkeypatch):
    monkeypatch.setenv("LAB_TRAIN_ON_START", "0")
    monkeypatch.setattr(demo, "_JOB", None)
    assert demo.start() is None
