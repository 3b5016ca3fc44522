"""The session's state in a real browser: the dataset survives every page switch and F5, a training
survives F5 (reattached by the job id in the URL) and can be cancelled from its page (issue 14)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from browser_util import expect, go_to, open_url, session, upload

pytestmark = pytest.mark.browser

ISSUE_URL = "/Labels?data=world&g_users=200&g_items=60&g_inter=4000&g_seed=3"  # the exact link of the report
PAGES = ("Stage 1 Candidates", "Stage 2 GBDT", "Stage 3 Neural", "Rank shifts", "Evaluation", "Home", "Labels")


def data_line(page) -> str:
    """The sidebar's dataset line ("Data: … — 200 users · 60 items · 4,000 interactions")."""
    captions = page.get_by_test_id("stSidebar").get_by_test_id("stCaptionContainer")
    return captions.filter(has_text="Data:").first.inner_text()


def params(page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def assert_issue_world(page, where: str) -> None:
    line = data_line(page)
    assert "200 users · 60 items · 4,000 interactions" in line, f"{where}: {line}"
    p = params(page)
    assert (p.get("data"), p.get("g_users"), p.get("g_items"), p.get("g_inter"), p.get("g_seed")) == (
        "world", "200", "60", "4000", "3"), f"{where}: {page.url}"


def test_the_dataset_survives_every_page_switch_and_a_refresh(server, browser):
    with session(browser, server + ISSUE_URL) as page:
        assert_issue_world(page, "opened")
        for link in PAGES:
            go_to(page, link)
            assert_issue_world(page, f"after switching to {link}")
        go_to(page, "Stage 2 GBDT")
        page.reload()
        page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]")
        page.locator("h1").first.wait_for()
        assert_issue_world(page, "after F5 on Stage 2")


def test_a_refresh_during_training_reattaches_and_the_training_finishes(server, browser):
    with session(browser, server + "/?seed=11") as page:
        page.get_by_role("button", name=re.compile("Train all stages")).click()
        cancel = page.get_by_role("button", name=re.compile("Cancel"))
        cancel.wait_for()
        job = params(page).get("job")
        assert job, page.url
        page.reload()
        page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]")
        assert params(page).get("job") == job  # the same training, reattached
        done = page.get_by_test_id("stAlertContentSuccess").filter(has_text="Trained ")
        done.wait_for(timeout=300_000)
        expect(page.get_by_test_id("stSidebar")).to_contain_text("Stage 3 · neural: trained")
        assert "run" in params(page)
        assert "job" not in params(page)


def test_a_training_can_be_cancelled_from_its_page(server, browser):
    with session(browser, server + "/?seed=12") as page:
        page.get_by_role("button", name=re.compile("Train all stages")).click()
        page.get_by_role("button", name=re.compile("Cancel")).click()
        stopped = page.get_by_test_id("stAlertContentError").filter(has_text="Training stopped")
        stopped.wait_for(timeout=120_000)
        assert "cancelled from its page" in stopped.inner_text()
        expect(page.get_by_test_id("stSidebar")).to_contain_text("Stage 1 · candidates: not trained")
        open_url(page, server + "/?seed=12")  # the server keeps working for the next click
        expect(page.get_by_role("button", name=re.compile("Train all stages"))).to_be_enabled()


def test_another_tab_opening_a_training_address_only_watches_and_the_lesson_link_has_no_job(server, browser):
    """Issue 25: a job belongs to the session that started it."""
    with session(browser, server + "/?seed=13") as a:
        a.get_by_role("button", name=re.compile("Train all stages")).click()
        a.get_by_role("button", name=re.compile("Cancel")).wait_for()
        address = a.url
        assert params(a).get("job"), address
        a.get_by_role("button", name=re.compile("Copy lesson link")).click()
        link = a.get_by_test_id("stPopoverBody").get_by_test_id("stCode")
        link.wait_for()
        assert "seed=13" in link.inner_text()
        assert "job=" not in link.inner_text()
        a.keyboard.press("Escape")
        with session(browser, address) as b:
            expect(b.get_by_text("This training belongs to the tab that started it")).to_be_visible()
            expect(b.get_by_role("button", name=re.compile("Cancel"))).to_have_count(0)
            done = a.get_by_test_id("stAlertContentSuccess").filter(has_text="Trained ")
            done.wait_for(timeout=300_000)  # the starting tab receives its result
            expect(a.get_by_test_id("stSidebar")).to_contain_text("Stage 3 · neural: trained")
            expect(b.get_by_text("This training belongs to the tab that started it")).to_have_count(0)
            expect(b.get_by_test_id("stSidebar")).to_contain_text("Stage 1 · candidates: not trained")


def test_the_two_mind_files_upload_through_the_widget_and_train(server, browser, tmp_path):
    """Issue 13: behaviors.tsv + news.tsv through the upload widget: the import report, clicks-only labels,
    and training on it (a MIND log of 60 users who each favour one category)."""
    from test_mind import _generated_pair

    behaviors, news = _generated_pair()
    paths = [tmp_path / "behaviors.tsv", tmp_path / "news.tsv"]
    paths[0].write_bytes(behaviors)
    paths[1].write_bytes(news)
    with session(browser, server + "/?data=upload") as page:
        upload(page, paths)
        expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text("Using your upload: 60 users")
        assert "300 impression lines" in page.get_by_test_id("stMain").inner_text()
        go_to(page, "Labels")
        expect(page.get_by_test_id("stAlertContentInfo").filter(has_text="This log records only click")).to_be_visible()
        go_to(page, "Home")
        page.get_by_role("button", name=re.compile("Train all stages")).click()
        done = page.get_by_test_id("stAlertContentSuccess").filter(has_text="Trained ")
        done.or_(page.get_by_test_id("stAlertContentError")).first.wait_for(timeout=300_000)
        assert done.count(), page.get_by_test_id("stMain").inner_text()[:500]
