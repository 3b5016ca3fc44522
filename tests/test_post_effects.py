"""The λ trade-off sweep (against sklearn's NDCG and a hand-counted diversity) and one user's swaps (by hand)."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import ndcg_score

from ranking.config import PipelineConfig, PostConfig
from ranking.evaluation.post_effects import lambda_sweep, realign, steps, swaps
from ranking.prep.lists import PAD, RankedLists, top_k
from ranking.stages.postprocess import postprocess

# item:          0     1     2     3     4     5     6     7
TOPIC = np.array([0, 0, 0, 1, 1, 2, 0, 2], np.int16)
PUBLISHER = np.array([0, 0, 1, 0, 2, 1, 2, 2], np.int32)
QUALITY = np.array([0.9, 0.8, 0.2, 0.7, 0.6, 0.5, 0.4, 0.95], np.float32)
AGE_HOURS = np.array([1, 50, 2, 3, 4, 5, 6, 7], np.float64)
SCORES = np.array([1.0, 0.9375, 0.875, 0.625, 0.5, 0.375, 0.25, 0.0], np.float32)


def _prep():
    content = pd.DataFrame({"content_id": np.arange(100, 108), "publisher": [f"p{p}" for p in PUBLISHER],
                            "topic": [f"t{t}" for t in TOPIC], "quality_score": QUALITY})
    return SimpleNamespace(item_topic=TOPIC, item_publisher=PUBLISHER, item_quality=QUALITY,
                           item_age_days=AGE_HOURS / 24, topics=("t0", "t1", "t2"),
                           publishers=("p0", "p1", "p2"), dataset=SimpleNamespace(content=content, truth=None))


def test_realign_looks_values_up_by_item():
    source = np.array([[5, 3, 9], [1, 2, PAD]])
    values = np.array([[0.5, 0.3, 0.9], [0.1, 0.2, np.nan]])
    got = realign(source, values, np.array([[9, 5], [2, PAD]]))
    np.testing.assert_allclose(got, [[0.9, 0.5], [0.2, np.nan]])


def test_steps_follow_the_settings():
    assert [name for name, _ in steps(PostConfig(diversity="none"))] == ["Stage 3's top M"]
    names = [n for n, _ in steps(PostConfig(quality_floor=0.5, max_age_hours=24, mmr_lambda=0.5))]
    assert names == ["Stage 3's top M", "Quality floor ≥ 0.5", "Age limit ≤ 24 h", "Diversity: MMR λ = 0.5"]


def test_swaps_by_hand():
    ranked = RankedLists(np.arange(8, dtype=np.int32)[None, :], SCORES[None, :])
    post = PostConfig(m=3, diversity="mmr", mmr_lambda=0.5, quality_floor=0.5, max_age_hours=24)
    out = swaps(_prep(), ranked, post, 0)
    # plain top 3: [0, 1, 2]. Floor 0.5 drops 2 (0.2) → [0, 1, 3]. Age ≤ 24 h drops 1 (50 h) → [0, 3, 4].
    # MMR λ=0.5 over [0, 3, 4, 5, 7] (rel = score normalised over those five: 1, .625, .5, .375, 0):
    # item 0; then 0.5·rel − 0.5·sim: item 3 (same publisher as 0) 0.0625, item 4 0.25, item 5 0.1875,
    # item 7 0 → 4; then item 3 0.3125 − 0.25 = 0.0625, item 5 0.1875, item 7 0 − 0.25 → 5. Final [0, 4, 5].
    rows = [(s, c, int(i)) for s, c, i in zip(out["step"], out["change"], out["content_id"], strict=True)]
    assert rows == [("Quality floor ≥ 0.5", "out", 102), ("Quality floor ≥ 0.5", "in", 103),
                    ("Age limit ≤ 24 h", "out", 101), ("Age limit ≤ 24 h", "in", 104),
                    ("Diversity: MMR λ = 0.5", "out", 103), ("Diversity: MMR λ = 0.5", "in", 105)]
    assert out["stage 3 rank"].tolist() == [3.0, 4.0, 2.0, 5.0, 4.0, 6.0]
    np.testing.assert_array_equal(out["rank before"], [3, np.nan, 2, np.nan, 2, np.nan])
    np.testing.assert_array_equal(out["rank after"], [np.nan, 3, np.nan, 3, np.nan, 3])
    final = postprocess(_prep(), ranked, post).lists.items[0].tolist()
    assert final == [0, 4, 5]


def test_no_swaps_when_nothing_changes():
    ranked = RankedLists(np.arange(8, dtype=np.int32)[None, :], SCORES[None, :])
    assert swaps(_prep(), ranked, PostConfig(m=3, diversity="none"), 0).empty


@pytest.fixture(scope="module")
def world():
    from ranking.data import synth
    from ranking.pipeline import prepare_data

    dataset = synth.generate(synth.WorldSpec(n_users=60, n_items=40, n_interactions=1500, seed=3)).to_dataset()
    cfg = PipelineConfig()
    prep = prepare_data(dataset, cfg)
    mask, _ = prep.eligible(np.arange(prep.n_users), cfg.stage1)
    scores = np.random.default_rng(0).random(mask.shape).astype(np.float32)
    return prep, cfg, top_k(scores, 12, mask)  # a stand-in for stage 3: every eligible item (≤ 11)


def test_lambda_sweep_against_sklearn(world):
    prep, cfg, ranked = world
    k, m = 5, 5
    post = PostConfig(m=m)
    frame = lambda_sweep(prep, ranked, post, cfg.stage1, k, lambdas=(0.0, 0.5, 1.0))
    assert frame["lambda"].tolist() == [0.0, 0.5, 1.0]
    assert frame.attrs["relevance"] == "oracle_ndcg@5"
    from ranking.evaluation.feed import true_values

    for lam, rel, div in frame.itertuples(index=False):
        lists = postprocess(prep, ranked, PostConfig(m=m, diversity="mmr", mmr_lambda=lam)).lists
        ndcgs, divs = [], []
        for u in range(prep.n_users):
            items = lists.items[u][lists.items[u] != PAD]
            if not len(items):
                continue
            eligible = np.flatnonzero(prep.eligible(np.array([u]), cfg.stage1)[0][0])
            gain = np.maximum(true_values(prep, u), 0)[eligible]
            score = np.zeros(len(eligible))
            score[np.searchsorted(eligible, items)] = np.arange(len(items), 0, -1)  # listed first, in order
            if gain.max() > 0:  # every user here lists k items or all of its eligible ones: no ties
                ndcgs.append(ndcg_score(gain[None, :], score[None, :], k=k))
            counts = Counter(prep.item_topic[items[:k]].tolist())
            divs.append(1 - sum((c / len(items[:k])) ** 2 for c in counts.values()))
        assert rel == pytest.approx(np.mean(ndcgs), rel=1e-5)
        assert div == pytest.approx(np.mean(divs), rel=1e-6)
    # λ = 0 is all diversity, λ = 1 plain relevance
    assert frame["diversity"].iloc[0] >= frame["diversity"].iloc[-1]
