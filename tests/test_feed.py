"""Feed cards and the truly best feed, on hand-made stand-ins with every expected value written out."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from ranking.config import CandidateConfig, LabelConfig
from ranking.evaluation.feed import age_text, best_feed, feed_cards, feed_ndcg, headlines, with_truth
from ranking.prep.lists import PAD, RankedLists

HOUR = 3600
NOW = 1_000 * HOUR


class _Truth:
    """Expected compound score: user 0 likes items 3 > 1 > 0 > 2; user 1 the reverse order."""

    VALUES = np.array([[0.2, 0.5, -0.1, 0.9], [0.9, -0.1, 0.5, 0.2]], np.float32)

    def gain(self, users, config=None, dwell_norm=None):
        scale = 1.0 if config is None else config.w_click  # the weights reach the truth
        return self.VALUES[np.asarray(users)] * scale


def _prep(titles=True, truth=True):
    content = pd.DataFrame({
        "content_id": [10, 11, 12, 13], "publisher": ["Daily", "Post", "Daily", "Wire"],
        "topic": ["sports", "politics", "sports", "business"],
        "quality_score": [0.9, 0.5, 0.2, 0.7],
    })
    if titles:
        content["title"] = ["Daily: Team wins", "A plain headline", "", None]
    published = np.array([NOW - 30 * 60, NOW - 5 * HOUR, NOW - 60 * HOUR, NOW - 24 * 14 * HOUR])
    eligible = np.array([[True, True, True, False], [True, True, True, True]])
    return SimpleNamespace(
        dataset=SimpleNamespace(content=content, truth=_Truth() if truth else None),
        item_quality=content["quality_score"].to_numpy(np.float32),
        item_age_days=(NOW - published) / 86400.0, n_users=2, interactions=pd.DataFrame(),
        labels=LabelConfig(), eligible=lambda users, cfg: (eligible[np.asarray(users)], {}))


@pytest.mark.parametrize(("hours", "text"), [(0.5, "< 1 h"), (5, "5 h"), (47.4, "47 h"), (60, "2.5 d"),
                                             (336, "14 d"), (float("nan"), "—")])
def test_age_text(hours, text):
    assert age_text(hours) == text


def test_headlines_strip_publisher_and_fall_back():
    assert headlines(_prep()).tolist() == ["Team wins", "A plain headline", "Sports story no. 12",
                                           "Business story no. 13"]
    assert headlines(_prep(titles=False))[1] == "Politics story no. 11"


def test_feed_cards_rank_order_with_signals_matched_by_item():
    lists = RankedLists(np.array([[1, 0, PAD], [2, 3, 0]], np.int32),
                        np.array([[0.8, 0.3, np.nan], [0.9, 0.4, 0.1]], np.float32))
    # signals belong to another list (stage 3's, in another order): matched by item
    source = np.array([[0, 1, 2], [3, 2, 0]], np.int32)
    p_click = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], np.float32)
    cards = feed_cards(_prep(), lists, 0, signals={"p_click": p_click, "unknown": p_click}, signal_items=source)
    assert cards["rank"].tolist() == [1, 2]
    assert cards["content_id"].tolist() == [11, 10]
    assert cards["headline"].tolist() == ["A plain headline", "Team wins"]
    assert cards["age"].tolist() == ["5 h", "< 1 h"]
    np.testing.assert_allclose(cards["p_click"], [0.2, 0.1])
    assert "unknown" not in cards.columns
    cards = feed_cards(_prep(), lists, 1, n=2)
    assert cards["content_id"].tolist() == [12, 13]
    assert cards["age"].tolist() == ["2.5 d", "14 d"]
    assert "p_click" not in cards.columns  # no signals: the score stands in
    np.testing.assert_allclose(cards["score"], [0.9, 0.4], rtol=1e-6)


def test_best_feed_is_eligible_items_by_true_value():
    best = best_feed(_prep(), 0, CandidateConfig(), m=2)
    assert best["content_id"].tolist() == [11, 10]  # item 13 (0.9) is not eligible for user 0
    np.testing.assert_allclose(best["true value"], [0.5, 0.2], rtol=1e-6)
    best = best_feed(_prep(), 1, CandidateConfig(), m=3, labels=LabelConfig(w_click=2.0))
    assert best["content_id"].tolist() == [10, 12, 13]
    np.testing.assert_allclose(best["true value"], [1.8, 1.0, 0.4], rtol=1e-6)
    assert best_feed(_prep(truth=False), 0, CandidateConfig(), m=2) is None


def test_with_truth_and_feed_ndcg():
    lists = RankedLists(np.array([[0, 2], [0, 1]], np.int32), np.ones((2, 2), np.float32))
    cards = with_truth(feed_cards(_prep(), lists, 0), _prep(), 0)
    np.testing.assert_allclose(cards["true value"], [0.2, -0.1], rtol=1e-6)
    # DCG = 0.2/log2(2) + 0/log2(3); ideal = 0.5 + 0.2/log2(3)
    expected = 0.2 / (0.5 + 0.2 / np.log2(3))
    assert feed_ndcg(np.array([0.2, -0.1]), np.array([0.5, 0.2])) == pytest.approx(expected)
    assert np.isnan(feed_ndcg(np.array([0.2]), np.array([-0.3])))
    assert "true value" not in with_truth(cards.drop(columns="true value"), _prep(truth=False), 0)
