"""Issue 12 in a real browser at projector size (1366×768): the lab opens trained, progress beside the
button, results that stay on screen after a setting change, the guided lesson, and small data."""

from __future__ import annotations

import re
import time

import browser_util as B
import pytest
from browser_util import click, expect, go_to, screenshot, session, upload, wait_trained

pytestmark = pytest.mark.browser
PROJECTOR = {"width": 1366, "height": 768}
TRAINED = "Stage 3 · neural: trained"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server that trains the sample world at first start (the default), timed from its launch."""
    B.require_browser()
    started = time.monotonic()
    with B.streamlit_server(env={"LAB_RUNS_DIR": str(tmp_path_factory.mktemp("runs")),
                                 "LAB_TRAIN_ON_START": "1"}) as url:
        yield url, started


@pytest.fixture(autouse=True)
def _projector(monkeypatch):
    monkeypatch.setattr(B, "VIEWPORT", PROJECTOR)


def _no_exception(page) -> None:
    assert page.get_by_test_id("stException").count() == 0, page.get_by_test_id("stException").first.inner_text()


def test_the_lab_opens_on_the_sample_world_already_trained(server, browser):
    url, started = server
    with session(browser, url + "/") as page:
        expect(page.get_by_test_id("stSidebar")).to_contain_text(TRAINED, timeout=B.TRAIN_TIMEOUT)
        seconds = time.monotonic() - started
        B.ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (B.ARTIFACTS / "startup-trained-seconds.txt").write_text(f"{seconds:.1f}\n")
        print(f"server launch → sample world trained on screen: {seconds:.1f} s")
        assert "run=" in page.url  # a lesson link from the start
    with session(browser, url + "/Evaluation") as page:  # a later visitor: trained at once
        expect(page.get_by_test_id("stSidebar")).to_contain_text(TRAINED)
        _no_exception(page)


def test_the_lesson_clicks_through_every_step_without_an_exception(server, browser):
    from pages.ui import tour

    url, _ = server
    with session(browser, url + "/?tour=1") as page:
        panel = page.locator(".st-key-tour_panel")
        for n, step in enumerate(tour.STEPS, 1):
            expect(panel).to_contain_text(f"step {n} of {len(tour.STEPS)}: {step.title}")
            expect(panel).to_be_in_viewport()
            assert f"tour={n}" in page.url
            _no_exception(page)
            if n == 1:
                screenshot(page, "tour-step-1")
            if n < len(tour.STEPS):
                click(page, page.locator(".st-key-tour_next button"), rerun=True)
        click(page, page.locator(".st-key-tour_back button"), rerun=True)
        expect(panel).to_contain_text(f"step {len(tour.STEPS) - 1} of")


def test_while_train_all_runs_its_progress_is_in_the_viewport(server, browser):
    url, _ = server
    with session(browser, url + "/?seed=5") as page:  # another seed: nothing trained for it yet
        click(page, page.get_by_role("button", name=re.compile("^Train all stages")))
        bar = page.get_by_test_id("stProgress").first
        bar.wait_for()
        expect(bar).to_be_in_viewport()
        expect(page.get_by_role("button", name=re.compile("Cancel"))).to_be_in_viewport()
        screenshot(page, "train-all-progress")
        wait_trained(page)


def test_after_a_setting_change_the_last_results_stay_visible_with_the_banner(server, browser):
    url, _ = server
    with session(browser, url + "/Stage_2_GBDT") as page:
        expect(page.get_by_test_id("stSidebar")).to_contain_text(TRAINED, timeout=B.TRAIN_TIMEOUT)
        go_to(page, "Stage 1 Candidates")  # a stage setting: label weights and threshold only re-rank
        seen = page.get_by_test_id("stCheckbox").filter(has_text="Already-seen filter").locator("label")
        click(page, seen, rerun=True)
        banner = page.locator(".st-key-stale_banner")
        expect(banner).to_contain_text("Showing the last results")
        expect(banner).to_contain_text("Already-seen filter on → off")
        go_to(page, "Stage 2 GBDT")
        expect(banner).to_be_visible()
        assert int(B.metric(page, "Trees used")) >= 1  # the last results, still on screen
        screenshot(page, "stale-banner")
        click(page, banner.get_by_role("button", name="Revert"), rerun=True)
        expect(banner).to_have_count(0)
        assert "f_seen" not in page.url


def test_the_seed_like_csvs_upload_and_train_stages_1_to_3_without_evaluation(server, browser, seed_dir):
    url, _ = server
    with session(browser, url + "/?data=upload") as page:
        upload(page, sorted(seed_dir.glob("*.csv")))
        expect(page.get_by_text("What this data allows")).to_be_visible()
        click(page, page.get_by_role("button", name=re.compile("Train on everything")), rerun=True)
        click(page, page.get_by_role("button", name=re.compile("^Train all stages")))
        wait_trained(page)
        expect(page.get_by_test_id("stSidebar")).to_contain_text(TRAINED)
        expect(page.get_by_text("Evaluation is unavailable").first).to_be_visible()
        go_to(page, "Rank shifts")
        _no_exception(page)
        expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()
        screenshot(page, "small-data-rank-shifts")
