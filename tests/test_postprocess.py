"""Post-processing: quality floor, plain top M, MMR and caps, checked by hand and against a naive loop."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ranking.config import PostConfig
from ranking.prep.lists import PAD, RankedLists
from ranking.stages.postprocess import postprocess

# item:          0     1     2     3     4     5     6     7
TOPIC = np.array([0, 0, 0, 1, 1, 2, 0, 2], np.int16)
PUBLISHER = np.array([0, 0, 1, 0, 2, 1, 2, 2], np.int32)
QUALITY = np.array([0.9, 0.8, 0.2, 0.7, 0.6, 0.5, 0.4, 0.95], np.float32)
# scores are exact binary fractions so hand-computed MMR ties are exact ties
SCORES = np.array([1.0, 0.9375, 0.875, 0.625, 0.5, 0.375, 0.25, 0.0], np.float32)


def _prep(topic=TOPIC, publisher=PUBLISHER, quality=QUALITY):
    """The item attributes post-processing reads (a stand-in for ``Prepared``)."""
    return SimpleNamespace(item_topic=topic, item_publisher=publisher, item_quality=quality,
                           topics=tuple(f"t{t}" for t in range(topic.max() + 1)),
                           publishers=tuple(f"p{p}" for p in range(publisher.max() + 1)))


def _ranked() -> RankedLists:
    """User 0: all 8 items in order; user 1: four items; user 2: nothing."""
    items = np.full((3, 8), PAD, np.int32)
    scores = np.full((3, 8), np.nan, np.float32)
    items[0], scores[0] = np.arange(8), SCORES
    items[1, :4], scores[1, :4] = [7, 6, 5, 4], [0.9, 0.8, 0.7, 0.6]
    return RankedLists(items, scores)


def _rows(lists: RankedLists) -> list[list[int]]:
    return [row[row != PAD].tolist() for row in lists.items]


def test_plain_top_m_and_quality_floor():
    out = postprocess(_prep(), _ranked(), PostConfig(m=3, diversity="none"))
    assert _rows(out.lists) == [[0, 1, 2], [7, 6, 5], []]
    assert out.changes.positions_changed.tolist() == [0, 0, 0]
    out = postprocess(_prep(), _ranked(), PostConfig(m=3, diversity="none", quality_floor=0.5))
    assert _rows(out.lists) == [[0, 1, 3], [7, 5, 4], []]  # item 2 (0.2) and 6 (0.4) are below the floor
    assert out.changes.dropped_by_floor.tolist() == [2, 1, 0]
    assert out.changes.summary["dropped_by_floor"] == 3
    assert out.changes.summary["users_with_drops"] == 2
    np.testing.assert_array_equal(out.lists.scores[0], [1.0, 0.9375, 0.625])  # input scores kept


def test_mmr_by_hand():
    # λ = 0.5, rel = score. Step 1: item 0. Step 2: 0.5·rel − 0.5·sim(·, item 0) is best for item 4
    # (0.25). Step 3: items 2 and 5 tie at 0.1875; item 2 has the better input rank.
    out = postprocess(_prep(), _ranked(), PostConfig(m=3, diversity="mmr", mmr_lambda=0.5))
    assert _rows(out.lists)[0] == [0, 4, 2]
    np.testing.assert_array_equal(out.lists.scores[0], SCORES[[0, 4, 2]])
    assert out.changes.positions_changed[0] == 1  # only position 2 differs from plain [0, 1, 2]
    assert _rows(out.lists)[2] == []


def _naive_mmr(items, scores, topic, publisher, m, lam):
    """One user's MMR as a plain loop (the reference)."""
    items, scores = list(items), [float(s) for s in scores]
    lo, hi = min(scores), max(scores)
    rel = [(s - lo) / (hi - lo) if hi > lo else 0.0 for s in scores]
    chosen: list[int] = []
    while len(chosen) < min(m, len(items)):
        best, best_value = None, -np.inf
        for j, it in enumerate(items):
            if j in chosen:
                continue
            sim = max((0.5 * (topic[it] == topic[items[c]]) + 0.5 * (publisher[it] == publisher[items[c]])
                       for c in chosen), default=0.0)
            value = lam * rel[j] - (1 - lam) * sim
            if value > best_value:
                best, best_value = j, value
        chosen.append(best)
    return [items[c] for c in chosen]


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.7, 1.0])
def test_mmr_matches_a_naive_loop_and_lambda_one_is_top_m(lam):
    rng = np.random.default_rng(4)
    n_items, n_users, width, m = 40, 25, 15, 6
    topic, publisher = rng.integers(0, 4, n_items).astype(np.int16), rng.integers(0, 5, n_items).astype(np.int32)
    prep = _prep(topic, publisher, np.ones(n_items, np.float32))
    items = np.stack([rng.permutation(n_items)[:width] for _ in range(n_users)]).astype(np.int32)
    scores = -np.sort(-rng.integers(0, 6, (n_users, width)).astype(np.float32) / 4, axis=1)  # ties on purpose
    out = postprocess(prep, RankedLists(items, scores), PostConfig(m=m, diversity="mmr", mmr_lambda=lam))
    for u in range(n_users):
        assert out.lists.items[u].tolist() == _naive_mmr(items[u], scores[u], topic, publisher, m, lam)
    if lam == 1.0:
        np.testing.assert_array_equal(out.lists.items, items[:, :m])
        assert out.changes.summary["users_affected"] == 0


def test_caps_one_per_topic_and_per_publisher():
    out = postprocess(_prep(), _ranked(), PostConfig(m=3, diversity="caps", max_per_topic=1, max_per_publisher=10))
    assert _rows(out.lists)[0] == [0, 3, 5]  # one item of each topic, in input order
    assert len(set(TOPIC[out.lists.items[0]].tolist())) == 3
    out = postprocess(_prep(), _ranked(), PostConfig(m=3, diversity="caps", max_per_topic=10, max_per_publisher=1))
    assert _rows(out.lists)[0] == [0, 2, 4]
    assert _rows(out.lists)[1] == [7, 5, 6]  # 6 and 4 share publisher 2 with 7: 6 fills the last slot
    assert out.changes.positions_changed.tolist() == [2, 2, 0]


def test_caps_fill_with_skipped_items_when_too_few_pass():
    # three topics only: caps of 1 give 3 items, the other 2 slots take the skipped ones in input order
    out = postprocess(_prep(), _ranked(), PostConfig(m=5, diversity="caps", max_per_topic=1, max_per_publisher=10))
    assert _rows(out.lists)[0] == [0, 3, 5, 1, 2]
    np.testing.assert_array_equal(out.lists.scores[0], SCORES[[0, 3, 5, 1, 2]])


def test_short_and_empty_lists_keep_their_shape():
    out = postprocess(_prep(), _ranked(), PostConfig(m=6, diversity="mmr"))
    assert out.lists.items.shape == (3, 6)
    assert out.lists.lengths.tolist() == [6, 4, 0]
    assert sorted(_rows(out.lists)[1]) == [4, 5, 6, 7]
    assert out.changes.summary["users"] == 3
