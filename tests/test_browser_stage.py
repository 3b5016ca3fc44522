"""Issue 22 in Chromium at projector size (1366×768), normal and presenter mode, on the trained sample world:
no text drawn over text, nothing past the right edge, headline numbers larger than their labels."""

from __future__ import annotations

import time

import browser_util as B
import pytest
from browser_util import expect, screenshot, session
from stage_checks import PAGES, measure

pytestmark = pytest.mark.browser
PROJECTOR = {"width": 1366, "height": 768}
TRAINED = "Stage 3 · neural: trained"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server that trains the sample world at start, so every page has something to draw."""
    B.require_browser()
    with B.streamlit_server(env={"LAB_RUNS_DIR": str(tmp_path_factory.mktemp("runs")),
                                 "LAB_TRAIN_ON_START": "1"}) as url:
        yield url


@pytest.fixture(autouse=True)
def _projector(monkeypatch):
    monkeypatch.setattr(B, "VIEWPORT", PROJECTOR)


@pytest.fixture(scope="module")
def trained(server, browser):
    with session(browser, server + "/") as page:
        expect(page.get_by_test_id("stSidebar")).to_contain_text(TRAINED, timeout=B.TRAIN_TIMEOUT)
    return server


def drawn(page) -> None:
    """Wait until the page is idle and every chart has drawn its SVG; then let the grids lay out."""
    page.wait_for_selector(B.IDLE)
    deadline = time.monotonic() + 60
    while page.evaluate("() => [...document.querySelectorAll('[data-testid=stPlotlyChart]')]"
                        ".some(c => !c.querySelector('.main-svg'))"):
        assert time.monotonic() < deadline, "a chart never drew"
        page.wait_for_timeout(200)
    page.wait_for_timeout(1200)
    page.wait_for_selector(B.IDLE)


@pytest.mark.timeout(1500)
@pytest.mark.parametrize("presenter", [False, True], ids=["normal", "presenter"])
@pytest.mark.parametrize("name", list(PAGES))
def test_nothing_overlaps_or_runs_off_the_right_edge(trained, browser, name, presenter):
    url = f"{trained}/{PAGES[name]}" + ("?presenter=1" if presenter else "")
    with session(browser, url) as page:
        drawn(page)
        assert page.get_by_test_id("stException").count() == 0
        found = measure(page)
        slug = name.lower().replace(" ", "-")
        screenshot(page, f"stage-{slug}-{'presenter' if presenter else 'normal'}")
        problems = found["overlaps"] + found["past"] + found["small"]
        assert not problems, f"{name} ({'presenter' if presenter else 'normal'}):\n" + "\n".join(problems[:40])


def axe_problems(page) -> list[str]:
    """axe-core's serious and critical violations on the page as shown (WCAG 2 A/AA rules)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "best-practice"]},
                                       "resultTypes": ["violations"]})
    out = []
    for v in results.response["violations"]:
        if v["impact"] in ("serious", "critical") or v["id"] in ("heading-order", "page-has-heading-one"):
            where = "; ".join(str(n["target"]) + " " + n.get("failureSummary", "")[:160].replace("\n", " ")
                              for n in v["nodes"][:3])
            out.append(f"{v['id']} ({v['impact']}, {len(v['nodes'])} nodes): {where}")
    return out


@pytest.mark.timeout(1500)
@pytest.mark.parametrize("presenter", [False, True], ids=["normal", "presenter"])
@pytest.mark.parametrize("name", list(PAGES))
def test_axe_finds_nothing_serious(trained, browser, name, presenter):
    url = f"{trained}/{PAGES[name]}" + ("?presenter=1" if presenter else "")
    with session(browser, url) as page:
        drawn(page)
        problems = axe_problems(page)
        assert not problems, f"{name} ({'presenter' if presenter else 'normal'}):\n" + "\n".join(problems)


@pytest.mark.timeout(600)
def test_a_presenter_lesson_link_stays_in_presenter_mode_with_its_subject_in_view(trained, browser):
    with session(browser, f"{trained}/?tour=2&presenter=1") as page:
        drawn(page)
        panel = page.locator(".st-key-tour_panel")
        expect(panel).to_contain_text("step 2 of")
        expect(page.get_by_role("switch", name="Presenter mode")).to_be_checked()
        expect(page.get_by_test_id("stSidebar")).to_be_hidden()
        page.wait_for_function("() => location.search.includes('presenter=1') && location.search.includes('tour=2')")
        expect(page.locator(".st-key-recall_chart")).to_be_in_viewport(ratio=0.6)
        expect(panel).to_be_in_viewport()
        page.screenshot(path=str(B.ARTIFACTS / "stage-lesson-step-2-presenter.png"))  # what the room sees
    with session(browser, f"{trained}/Labels?presenter=1") as page:
        page.get_by_role("button", name="Pages").click()
        expect(page.get_by_test_id("stPopoverBody").get_by_role("button", name="Guided lesson")).to_be_visible()
