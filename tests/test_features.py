"""Stage-2 features: values by hand on a tiny dataset, smoothing, and no outcome leakage."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from ranking import data
from ranking.config import CandidateConfig, LabelConfig, SplitConfig
from ranking.data import schema as S
from ranking.data import synth
from ranking.prep.split import ITEM_POS, USER_POS, prepare
from ranking.stages import features as F
from ranking.stages.candidates import CandidateGenerator
from ranking.stages.gbdt import history_mask, training_table

P, N = (1, 30.0), (0, 0.0)  # (click, dwell): score 2.5 → positive; 0 → negative (notebook label)


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def tiny_dataset():
    users = pd.DataFrame({
        S.USER_ID: [1, 2, 3, 4, 5],
        S.DEVICE: ["mobile", "desktop", "tablet", "mobile", "desktop"],
        S.REGION: ["EU", "NA", "AS", "EU", "SA"],
        "topic_affinity_politics": [0.9, 0.1, 0.5, 0.3, 0.4],
        "topic_affinity_tech": [0.2, 0.8, 0.5, 0.6, 0.4],
        "topic_affinity_sports": [0.1, 0.5, 0.5, 0.2, 0.4],
        S.SESSION: [5.0, 7.5, 3.0, 4.0, 6.0],
        S.BLOCKLIST: ["PubB", "", "", "", ""],
    })
    content = pd.DataFrame({
        S.CONTENT_ID: [101, 102, 103, 104, 105, 106],
        S.PUBLISHER: ["PubA", "PubB", "PubA", "PubC", "PubC", "PubB"],
        S.TOPIC: ["politics", "technology", "sports", "business", "politics", "sports"],
        S.QUALITY: [0.8, 0.6, 0.4, 0.9, 0.5, 0.7],
        S.RESTRICTION: ["ALL", "EU", "NA", "ALL", "AS", "ALL"],
        S.PUBLISHED: [_ts(t) for t in ("2025-04-01 00:00", "2025-04-01 12:00", "2025-04-02 00:00",
                                       "2025-04-02 06:00", "2025-04-03 00:00", "2025-04-03 00:00")],
    })
    rows = [  # user, item, outcome, day-hour of the event
        (1, 101, P, "04-02 00"), (1, 104, N, "04-02 12"), (1, 105, N, "04-03 06"), (1, 106, P, "04-03 12"),
        (1, 102, N, "04-04 00"),
        (2, 101, N, "04-02 01"), (2, 103, P, "04-02 13"), (2, 104, P, "04-03 07"), (2, 106, N, "04-04 01"),
        (3, 105, P, "04-03 02"), (3, 101, N, "04-03 14"), (3, 104, N, "04-04 02"),
        (4, 102, P, "04-02 03"), (4, 106, N, "04-03 15"),
        (5, 104, P, "04-03 03"),
    ]
    inter = pd.DataFrame({
        S.USER_ID: [r[0] for r in rows], S.CONTENT_ID: [r[1] for r in rows],
        S.CLICK: [r[2][0] for r in rows], S.DWELL: [r[2][1] for r in rows],
        S.SHARE: 0, S.COMMENT: 0, S.HIDE: 0,
        S.EVENT_TS: [_ts(f"2025-{r[3]}:00") for r in rows],
    })
    return data.from_frames(users, content, inter, name="tiny")


ALL_TRAIN = SplitConfig(min_history=100)  # nobody has 100 interactions: every row is training


@pytest.fixture(scope="module")
def tiny():
    return prepare(tiny_dataset(), LabelConfig(), ALL_TRAIN, seed=0)


def _pairs(n: int) -> dict:
    return {k: np.arange(n, dtype=np.float32) + j for j, k in enumerate(F.STAGE1_KEYS)}


def _features(prep, stats, users, items, at_s):
    u = prep.dataset.users[S.USER_ID].tolist()
    i = prep.dataset.content[S.CONTENT_ID].tolist()
    up = np.array([u.index(x) for x in users])
    ip = np.array([i.index(x) for x in items])
    X, names = F.build(prep, stats, _pairs(len(up)), up, ip, at_s)
    return pd.DataFrame(X, columns=names)


def test_tiny_labels_as_designed(tiny):
    assert tiny.train[S.LABEL].tolist() == [1, 0, 0, 1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1]


def test_names_cover_affinities_and_have_descriptions(tiny):
    names = F.feature_names(tiny.topics)
    assert names[:4] == ["affinity_business", "affinity_politics", "affinity_sports", "affinity_technology"]
    assert len(set(names)) == len(names)
    assert all(F.describe(n) != n for n in names)
    assert {F.group(n) for n in names} == {"user", "content", "cross", "context", "stage 1"}


def test_no_outcome_or_label_among_features(tiny):
    names = F.feature_names(tiny.topics)
    assert F.outcome_free(names)
    assert not {*S.OUTCOMES, S.LABEL, S.SCORE, S.GRADE, "score"} & set(names)
    assert not [n for n in names for o in (*S.OUTCOMES, "dwell") if o in n]


def test_cross_features_by_hand(tiny):
    stats = F.fit_stats(tiny, tiny.train)
    at = int(_ts("2025-04-02 06:00").timestamp())
    X = _features(tiny, stats, [1, 1, 1, 1, 2, 3], [101, 102, 103, 104, 103, 105], at)
    # stated affinity for the item's own topic; business has no affinity column → missing
    np.testing.assert_allclose(X["topic_match"][:3], [0.9, 0.2, 0.1], rtol=1e-6)
    assert np.isnan(X["topic_match"][3])
    assert X["topic_match"][4] == pytest.approx(0.5)
    np.testing.assert_array_equal(X["affinity_politics"], np.float32([0.9, 0.9, 0.9, 0.9, 0.1, 0.5]))
    # EU user: ALL → 0, EU → 1, NA → −1; NA user on NA item → 1; AS user on AS item → 1
    assert X["region_match"].tolist() == [0, 1, -1, 0, 1, 1]
    # user 1 blocks PubB (item 102)
    assert X["blocked_publisher"].tolist() == [0, 1, 0, 0, 0, 0]
    # published 2025-04-01 00:00 / 12:00 / 04-02 00:00 / 06:00, seen at 04-02 06:00
    np.testing.assert_allclose(X["age_hours"][:4], [30.0, 18.0, 6.0, 0.0])
    np.testing.assert_allclose(X["quality"], np.float32([0.8, 0.6, 0.4, 0.9, 0.4, 0.5]))
    assert X["device"].tolist() == [0, 0, 0, 0, 1, 2]  # mobile, desktop, tablet
    assert X["region"].tolist() == [S.REGIONS.index("EU")] * 4 + [S.REGIONS.index("NA"), S.REGIONS.index("AS")]
    # stage-1 values are copied through in their columns
    for j, name in enumerate(F.FEATURE_NAMES[-5:]):
        np.testing.assert_array_equal(X[name], np.arange(6, dtype=np.float32) + j)


def test_smoothed_rates_by_hand(tiny):
    stats = F.fit_stats(tiny, tiny.train)
    prior = 7 / 15  # 7 positives in 15 training rows
    assert stats.prior == pytest.approx(prior)
    X = _features(tiny, stats, [1, 1, 1, 4, 5], [104, 101, 102, 101, 101], 0)
    m = F.PRIOR_STRENGTH
    # user 1 × PubC: 104 N, 105 N → (0 + m·prior) / (2 + m)
    assert X["publisher_rate"][0] == pytest.approx((0 + m * prior) / (2 + m), rel=1e-6)
    assert X["publisher_impressions"][0] == 2
    # user 1 × PubA: 101 P → (1 + m·prior) / (1 + m); user 4 never saw PubA → the prior
    assert X["publisher_rate"][1] == pytest.approx((1 + m * prior) / (1 + m), rel=1e-6)
    assert X["publisher_rate"][3] == pytest.approx(prior, rel=1e-6)
    assert X["publisher_impressions"][3] == 0
    # user 1 × PubB: 106 P, 102 N → (1 + m·prior) / (2 + m)
    assert X["publisher_rate"][2] == pytest.approx((1 + m * prior) / (2 + m), rel=1e-6)
    # user 1 × politics: 101 P, 105 N → (1 + m·prior) / (2 + m)
    assert X["topic_rate"][1] == pytest.approx((1 + m * prior) / (2 + m), rel=1e-6)
    # item 101: shown to users 1 (P), 2 (N), 3 (N) → (1 + m·prior) / (3 + m), 3 impressions
    assert X["item_rate"][1] == pytest.approx((1 + m * prior) / (3 + m), rel=1e-6)
    assert X["item_impressions"][1] == 3
    # user 1: 5 impressions, 2 positive; user 5: 1 impression, positive
    assert X["user_impressions"][0] == 5
    assert X["user_impressions"][4] == 1
    assert X["user_rate"][0] == pytest.approx((2 + m * prior) / (5 + m), rel=1e-6)
    assert X["user_rate"][4] == pytest.approx((1 + m * prior) / (1 + m), rel=1e-6)


def test_empty_stats_give_zero_counts_and_prior_zero(tiny):
    stats = F.fit_stats(tiny, tiny.train.iloc[:0])
    X = _features(tiny, stats, [1, 2], [101, 102], 0)
    assert stats.prior == 0.0
    assert (X[["publisher_impressions", "item_impressions", "user_impressions"]].to_numpy() == 0).all()
    assert (X[["publisher_rate", "topic_rate", "item_rate", "user_rate"]].to_numpy() == 0).all()


def test_missing_stage1_key_is_refused(tiny):
    stats = F.fit_stats(tiny, tiny.train)
    with pytest.raises(ValueError, match="stage1_pairs lacks"):
        F.build(tiny, stats, {"topic": np.zeros(1)}, np.array([0]), np.array([0]), 0)


def test_history_split_by_time_per_user(tiny):
    hist = history_mask(tiny.train)
    by_user = pd.Series(hist).groupby(tiny.train[S.USER_ID].to_numpy()).agg(["sum", "size"])
    # ⌊0.7·n⌋ earliest rows, at least one target: n = 5, 4, 3, 2, 1 → 3, 2, 2, 1, 0
    assert by_user["sum"].tolist() == [3, 2, 2, 1, 0]
    ts = tiny.train[S.EVENT_TS].to_numpy()
    users = tiny.train[S.USER_ID].to_numpy()
    for u in np.unique(users):
        mine = users == u
        if hist[mine].any() and (~hist[mine]).any():
            assert ts[mine & hist].max() <= ts[mine & ~hist].min()


@pytest.fixture(scope="module")
def world():
    return synth.generate(synth.WorldSpec(n_users=300, n_items=120, n_interactions=6000, seed=3)).to_dataset()


def test_stats_match_a_groupby_reference(world):
    prep = prepare(world, LabelConfig(), SplitConfig(), seed=0)
    train = prep.train
    stats = F.fit_stats(prep, train)
    pub = prep.item_publisher[train[ITEM_POS].to_numpy()]
    ref = train.assign(pub=pub).groupby([USER_POS, "pub"])[S.LABEL].agg(["sum", "size"]).reset_index()
    n, pos = stats.publisher_counts(ref[USER_POS].to_numpy(), ref["pub"].to_numpy())
    np.testing.assert_array_equal(n, ref["size"].to_numpy())
    np.testing.assert_array_equal(pos, ref["sum"].to_numpy())
    expected = (ref["sum"] + F.PRIOR_STRENGTH * train[S.LABEL].mean()) / (ref["size"] + F.PRIOR_STRENGTH)
    np.testing.assert_allclose(stats.rate(pos, n), expected, rtol=1e-5)


def _retarget(dataset, prep, change):
    """The dataset with the outcome columns of stage 2's *target* (or history) rows changed."""
    hist = history_mask(prep.train)
    rows = prep.train.index[change(hist)]
    inter = dataset.interactions.copy()
    outcomes = inter.loc[rows, list(S.OUTCOMES)].to_numpy()
    inter.loc[rows, list(S.OUTCOMES)] = np.random.default_rng(1).permutation(outcomes)
    # a positive and a negative swap so the labels surely change
    inter.loc[rows, S.CLICK] = 1 - inter.loc[rows, S.CLICK].to_numpy()
    return dataclasses.replace(dataset, interactions=inter)


@pytest.fixture(scope="module")
def base(world):
    prep = prepare(world, LabelConfig(), SplitConfig(), seed=0)
    return prep, training_table(prep, CandidateGenerator(CandidateConfig(), seed=0), 0)


@pytest.mark.parametrize("which", ["target", "history"])
def test_target_outcomes_do_not_reach_the_features(world, base, which):
    prep, a = base
    change = (lambda h: ~h) if which == "target" else (lambda h: h)
    prep2 = prepare(_retarget(world, prep, change), LabelConfig(), SplitConfig(), seed=0)
    b = training_table(prep2, CandidateGenerator(CandidateConfig(), seed=0), 0)
    np.testing.assert_array_equal(a.user_pos, b.user_pos)
    np.testing.assert_array_equal(a.item_pos, b.item_pos)
    if which == "target":
        assert (a.y != b.y).any()  # the labels did change …
        np.testing.assert_array_equal(a.X, b.X)  # … and no feature moved
    else:
        np.testing.assert_array_equal(a.y, b.y)
        assert not np.array_equal(a.X, b.X, equal_nan=True)  # history is what the features learn from
