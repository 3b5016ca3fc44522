"""Real-browser tests: Playwright drives Debian's Chromium against `streamlit run app.py`."""

from __future__ import annotations

import pytest
from browser_util import chromium, require_browser, screenshot, streamlit_server, wait_idle

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server():
    require_browser()
    with streamlit_server() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    require_browser()
    with chromium() as b:
        yield b


def test_home_shows_the_title(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(server)
    wait_idle(page)
    assert page.get_by_role("heading", name="Multistage Ranking Lab").first.is_visible()
    screenshot(page, "home")
    page.close()
