"""Hostile links in a real browser: a huge generated world, non-finite and unknown values in the URL."""

from __future__ import annotations

import pytest
from browser_util import expect, session
from test_browser import alerts, no_traceback

pytestmark = pytest.mark.browser


def test_a_world_with_far_more_interactions_than_pairs_generates_in_the_background(server, browser):
    """The issue's reproduction: 1000 users × 10 items × 400,000 interactions used to hold a core for 18+ min."""
    with session(browser, server + "?data=world&g_users=1000&g_items=10&g_inter=400000&g_seed=3") as page:
        sidebar = page.get_by_test_id("stSidebar")
        expect(sidebar).to_contain_text("1,000 users · 10 items · 400,000 interactions")
        no_traceback(page)


@pytest.mark.parametrize(("query", "key", "said"), [
    ("?user=inf", "user", "The link's user 'inf' is not a user id; showing the first user instead."),
    ("?seed=1e999", "seed", "The link's random seed '1e999' is not a whole number from 0 to 10,000; "
                            "using 42 instead."),
    ("?user=999999", "user", "The link's user '999999' is not a user id of this dataset; showing user 1 instead."),
])
def test_a_hostile_link_value_gets_a_sentence_and_leaves_the_url(server, browser, query, key, said):
    with session(browser, server + "/Rank_shifts" + query) as page:
        no_traceback(page)
        assert said in alerts(page, "Warning")
        page.wait_for_function(f"() => !new URLSearchParams(location.search).has('{key}')")
