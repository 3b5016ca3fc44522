"""Every page under Streamlit's AppTest: opens cleanly, sliders change numbers, buttons train, stale badges."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ranking.viz.style import EMPTY_MESSAGE as EMPTY

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["app.py", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py"))]
# A small generated world keeps each training to a few seconds.
TINY = {"data": "world", "g_users": "300", "g_items": "120", "g_inter": "6000", "s3_epochs": "3"}


@pytest.fixture(autouse=True)
def _sync_training(monkeypatch):
    monkeypatch.setenv("LAB_SYNC_TRAINING", "1")


def app(page: str = "app.py", **params: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=240)
    at.query_params.update({**TINY, **params})
    return at


def metric(at: AppTest, label_start: str) -> str:
    for m in at.metric:
        if m.label.startswith(label_start):
            return m.value
    raise AssertionError(f"no metric starting {label_start!r}; have {[m.label for m in at.metric]}")


def badges(at: AppTest) -> list[str]:
    return [m.value for m in at.sidebar.markdown if "badge[" in m.value]


def charts(at: AppTest) -> dict[str, dict]:
    """Every plotly chart on the page as its figure JSON, keyed by the start of its title."""
    out = {}
    for element in at.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        out[spec["layout"]["title"]["text"].split("<br>")[0]] = spec
    return out


def chart(at: AppTest, title_start: str) -> dict:
    found = [spec for title, spec in charts(at).items() if title.startswith(title_start)]
    assert found, f"no chart titled {title_start!r}; have {list(charts(at))}"
    return found[0]


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_pages_are_numbered_and_found():
    assert len(PAGES) == 11  # app.py + 0_Home … 7_Online_test, with 4_Stage_4_Post_processing and 5_Feed
    assert all(Path(p).name[0].isdigit() for p in PAGES[1:])


@pytest.mark.parametrize("page", PAGES)
def test_every_page_opens_without_error(page):
    at = app(page)
    at.run()
    assert_clean(at)
    assert at.title, "every page has a title"
    assert at.markdown, "every page explains itself"


def test_sample_world_is_the_default():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.run()
    assert_clean(at)
    assert "600 users" in at.sidebar.caption[0].value  # make sample: 600 users × 300 items × 24,000 impressions


def test_weight_slider_changes_positive_rate():
    at = app("pages/1_Labels.py")
    at.run()
    before = metric(at, "Positive rate")
    at.slider(key="w_share").set_value(0.0).run()
    after_share = metric(at, "Positive rate")
    assert after_share != before
    at.slider(key="threshold").set_value(0.5).run()
    assert metric(at, "Positive rate") != after_share
    assert_clean(at)
    formula = at.latex[0].value  # the live formula shows both new numbers (w_dwell's 0.5 alone must not do)
    assert r"[\text{score} > 0.5]" in formula
    assert r"+ 0\,\text{share}" in formula


def test_preset_restores_the_notebook_defaults():
    at = app("pages/1_Labels.py")
    at.run()
    default = metric(at, "Positive rate")
    at.slider(key="threshold").set_value(4.0).run()
    assert metric(at, "Positive rate") != default
    at.selectbox(key="preset").set_value("Notebook defaults").run()  # choosing a preset applies it
    assert at.slider(key="threshold").value == pytest.approx(2.0)
    assert metric(at, "Positive rate") == default


def test_all_negative_labels_disable_training_with_a_reason():
    # only the notebook's path learns the 0/1 label; the value model learns the signals whatever the weights
    at = app("app.py", target="label", w_click="0", w_dwell="0", w_share="0", w_comment="0")
    at.run()
    assert_clean(at)
    assert at.button(key="train_all").disabled
    reasons = [c.value for c in at.caption if c.value.startswith(":material/block:")]  # the button's blocker
    assert reasons
    assert all("positive" in r for r in reasons), reasons


def test_train_all_then_every_page_shows_results_and_settings_make_stages_stale():
    at = app("app.py")
    at.run()
    assert all("not trained" in b for b in badges(at))
    at.button(key="train_all").click().run()
    assert_clean(at)
    assert any("Trained" in s.value for s in at.success)
    assert all("trained" in b and "stale" not in b for b in badges(at))
    assert metric(at, "Stage 3")  # headline metric per stage

    at.switch_page("pages/2_Stage_1_Candidates.py").run()
    assert_clean(at)
    assert float(metric(at, "Candidates per user")) > 0
    at.switch_page("pages/3_Stage_2_GBDT.py").run()
    assert_clean(at)
    assert 0.5 < float(metric(at, "Held-out AUC (pooled)")) <= 1.0
    at.switch_page("pages/4_Stage_3_Neural.py").run()
    assert_clean(at)
    assert int(metric(at, "Epochs run")) >= 1
    at.switch_page("pages/5_Rank_shifts.py").run()
    assert_clean(at)
    bump = chart(at, "How the feed changes stage by stage")  # the bump chart, with lines, not a placeholder
    assert len(bump["data"]) > 1
    assert EMPTY not in [a.get("text") for a in bump["layout"].get("annotations", [])]
    sankey = chart(at, "Where the catalog goes")
    assert sankey["data"][0]["type"] == "sankey"
    labels = sankey["data"][0]["node"]["label"]
    assert labels[0] == f"Catalog ({TINY['g_items']})"  # this user's flows start from the whole catalog
    assert any(label.replace("<br>", " ").startswith("Final list") for label in labels), labels
    assert chart(at, "Do stages agree?")["data"]
    at.switch_page("pages/6_Evaluation.py").run()
    assert_clean(at)
    quality = chart(at, "Ranking quality by stage")
    assert any(str(name).startswith("Oracle NDCG") for t in quality["data"] for name in [t.get("name", "")])

    # an upstream setting change marks stage 1 and everything after it stale; nothing retrains
    at.switch_page("pages/2_Stage_1_Candidates.py").run()
    at.number_input(key="s1_k").set_value(15).run()
    assert_clean(at)
    assert all("stale" in b for b in badges(at))
    assert at.button(key="train_stage1").label.startswith("Retrain")


def test_stage2_form_trains_only_on_submit():
    at = app("pages/3_Stage_2_GBDT.py")
    at.run()
    assert all("not trained" in b for b in badges(at))
    at.slider(key="s2_depth").set_value(3)
    at.run()
    assert all("not trained" in b for b in badges(at)), "changing a form value must not train"
    at.get("form_submit_button")[0].click().run()
    assert_clean(at)
    assert int(metric(at, "Trees used")) >= 1
    stage_badges = badges(at)
    assert "not trained" not in stage_badges[0]
    assert "not trained" not in stage_badges[1]
    assert "not trained" in stage_badges[2]


def test_a_weight_slider_reranks_every_feed_without_retraining():
    at = app("app.py")
    at.run()
    at.button(key="train_all").click().run()
    assert_clean(at)
    lab = at.session_state["_lab"]
    final_before = lab._view[1].post.lists.items.copy()
    trained = {name: t.output for name, t in lab.stages.items()}
    at.switch_page("pages/1_Labels.py").run()
    at.slider(key="w_share").set_value(5.0).run()
    at.slider(key="w_click").set_value(0.0).run()
    assert_clean(at)
    assert all("trained" in b and "stale" not in b for b in badges(at))  # nothing needs a retrain
    at.switch_page("pages/5_Rank_shifts.py").run()
    assert_clean(at)
    lab = at.session_state["_lab"]
    assert {name: t.output for name, t in lab.stages.items()} == trained  # the same trained models
    view = lab._view[1]
    assert view.config.labels.w_share == 5.0
    assert not (view.post.lists.items == final_before).all()  # the feeds were re-ranked for the new weights
