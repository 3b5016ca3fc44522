"""Real browser at projector size: the Online test page's A/B test and a short deployment with its progress.

Same fixtures as ``test_browser``: one server and one Chromium per module, a new context per test.
"""

from __future__ import annotations

import pytest
from browser_util import click, screenshot, session

pytestmark = pytest.mark.browser

TINY = "/Online_test?data=world&g_users=300&g_items=120&g_inter=6000"
PROJECTOR = {"width": 1366, "height": 768}


def no_traceback(page) -> None:
    assert page.get_by_test_id("stException").count() == 0, page.get_by_test_id("stException").first.inner_text()


@pytest.mark.timeout(900)
def test_ab_test_and_a_popularity_deployment_at_projector_size(server, browser):
    with session(browser, server + TINY) as page:
        page.set_viewport_size(PROJECTOR)
        click(page, page.get_by_role("button", name="Run the A/B test"))
        chart = page.get_by_test_id("stPlotlyChart").filter(has_text="What changes per impression")
        chart.locator(".js-plotly-plot .ytick").first.wait_for(timeout=120_000)
        assert "compound value" in chart.inner_text()
        page.get_by_text("Team-draft interleaving").first.wait_for()
        no_traceback(page)
        screenshot(page, "projector-online-ab")

        page.get_by_role("button", name="Pipeline (retrained every round)").first.click()  # remove it: a quick run
        click(page, page.get_by_role("button", name="Deploy for 5 rounds"))
        loop = page.get_by_test_id("stPlotlyChart").filter(has_text="The feedback loop")
        loop.locator(".js-plotly-plot").first.wait_for(timeout=300_000)
        page.get_by_text("From before deployment to the last round").wait_for()
        no_traceback(page)
        screenshot(page, "projector-online-loop")
