"""The guided lesson (pages/ui/tour.py): every step opens its page in its state, Back/Next, ?tour=N."""

from __future__ import annotations

import pytest
from test_pages import app, assert_clean

from pages.ui import settings as W
from pages.ui import tour


@pytest.fixture(autouse=True)
def _sync_training(monkeypatch):
    monkeypatch.setenv("LAB_SYNC_TRAINING", "1")


def _step_text(at) -> str:
    return " ".join(m.value for m in at.markdown if "Lesson · step" in m.value)


def test_every_step_names_an_existing_page_and_known_settings():
    from test_pages import ROOT

    assert len(tour.STEPS) >= 7
    assert tour.STEPS[0].title == "What is a label?"
    pages = {s.page for s in tour.STEPS}
    assert pages == {str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("[0-9]*_*.py")}  # every page
    for step in tour.STEPS:
        assert set(step.settings) <= set(W.BY_KEY)


def test_the_lesson_clicks_through_every_step_and_back_without_an_exception():
    at = app("app.py", tour="1")
    at.run()
    for n, step in enumerate(tour.STEPS, 1):
        assert_clean(at)
        assert f"step {n} of {len(tour.STEPS)}: {step.title}" in _step_text(at)
        assert at.query_params["tour"] == str(n)
        if step.user is not None:
            assert at.session_state["user"] == step.user
        if n < len(tour.STEPS):
            at.button(key="tour_next").click().run()
    assert not any(b.key == "tour_next" for b in at.button)  # the last step has no Next
    at.button(key="tour_back").click().run()
    assert_clean(at)
    assert f"step {len(tour.STEPS) - 1} of" in _step_text(at)
    at.button(key="tour_end").click().run()
    assert_clean(at)
    assert _step_text(at) == ""
    assert "tour" not in at.query_params


def test_a_step_resets_the_settings_it_does_not_name():
    at = app("app.py", s2_depth="7")
    at.run()
    at.switch_page("pages/2_Stage_1_Candidates.py").run()
    assert at.session_state["s2_depth"] == 7
    at.button(key="tour_start").click().run()
    assert_clean(at)
    assert "step 1 of" in _step_text(at)
    assert at.session_state["s2_depth"] == W.BY_KEY["s2_depth"].default
