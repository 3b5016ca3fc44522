"""Real browser at projector size (1366×768): the Post-processing page, the feed comparison, presenter mode.

Same fixtures as ``test_browser``: one server and one Chromium per module, a new context per test.
"""

from __future__ import annotations

import pytest
from browser_util import click, expect, go_to, open_url, screenshot, session, wait_trained

pytestmark = pytest.mark.browser

TINY = "?data=world&g_users=300&g_items=120&g_inter=6000&s3_epochs=3"
PROJECTOR = {"width": 1366, "height": 768}


def no_traceback(page) -> None:
    assert page.get_by_test_id("stException").count() == 0, page.get_by_test_id("stException").first.inner_text()


@pytest.mark.timeout(1200)  # one training of all stages; minutes on busy cores
def test_post_processing_page_and_feed_comparison_at_projector_size(server, browser):
    with session(browser, server + TINY) as page:
        page.set_viewport_size(PROJECTOR)
        click(page, page.get_by_role("button", name="Train all stages"))
        assert wait_trained(page).startswith("Trained ")

        go_to(page, "Stage 4 Post processing")
        curve = page.get_by_test_id("stPlotlyChart").filter(has_text="Relevance vs diversity")
        curve.locator(".js-plotly-plot .xtick").first.wait_for()
        assert "Oracle NDCG@10" in curve.inner_text()
        page.get_by_text("What each setting swapped for one user").wait_for()
        no_traceback(page)
        screenshot(page, "projector-post-processing")

        go_to(page, "Feed")
        page.get_by_text("Truly best feed (current weights)").wait_for()
        page.get_by_text("Today's feed · Final list").wait_for()
        page.get_by_text("items are in both feeds").wait_for()
        no_traceback(page)
        screenshot(page, "projector-feed")


def test_presenter_mode_survives_the_lesson_link(server, browser):
    with session(browser, server + "/Evaluation?presenter=1") as page:
        page.set_viewport_size(PROJECTOR)
        toggle = page.get_by_role("switch", name="Presenter mode")
        expect(toggle).to_be_checked()
        expect(page.get_by_test_id("stSidebar")).to_be_hidden()
        assert "presenter=1" in page.url
        link = page.url
        # the lesson link in a new session (another tab) keeps presenter mode
        with session(browser) as other:
            other.set_viewport_size(PROJECTOR)
            open_url(other, link)
            expect(other.get_by_role("switch", name="Presenter mode")).to_be_checked()
            expect(other.get_by_test_id("stSidebar")).to_be_hidden()
            # the page menu replaces the hidden sidebar; presenter mode stays on after the switch
            other.get_by_role("button", name="Pages").click()
            other.get_by_role("link", name="Labels").last.click()
            other.get_by_role("heading", name="Labels").first.wait_for()
            expect(other.get_by_role("switch", name="Presenter mode")).to_be_checked()
            other.wait_for_function("() => location.search.includes('presenter=1')")
            no_traceback(other)
            screenshot(other, "projector-presenter-labels")
        click(page, page.get_by_text("Presenter mode"), rerun=True)
        expect(page.get_by_test_id("stSidebar")).to_be_visible()
        page.wait_for_function("() => !location.search.includes('presenter')")
