"""The per-signal GLM and the transparent baselines built on it: features written out by hand, coefficients against
scikit-learn fitted here on that hand-built design, the catalog-wide score rows against per-pair scoring, the
freshness decay against its own regression, smoothed CTR by hand, and stage 2 starting from the GLM's margins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression, PoissonRegressor

from ranking.config import LabelConfig, SplitConfig
from ranking.data import schema as S
from ranking.data import synth
from ranking.evaluation import baselines as B
from ranking.prep.split import ITEM_POS, USER_POS, prepare
from ranking.stages import glm as G
from ranking.stages import value as V


@pytest.fixture(scope="module")
def prep():
    world = synth.generate(synth.WorldSpec(n_users=120, n_items=60, n_interactions=3000, seed=11)).to_dataset()
    return prepare(world, LabelConfig(), SplitConfig(), seed=0)


@pytest.fixture(scope="module")
def glm(prep):
    return G.SignalGLM(seed=0).fit(prep)


def _hand_design(prep):
    """The GLM's design for the training rows, written out row by row from its documented features."""
    train = prep.train
    u, i = train[USER_POS].to_numpy(), train[ITEM_POS].to_numpy()
    clicked = (train[S.CLICK].to_numpy() > 0).astype(float)
    prior = clicked.mean()
    n_t = len(prep.topics)
    user_n, user_c = np.zeros(prep.n_users), np.zeros(prep.n_users)
    ut_n, ut_c = np.zeros((prep.n_users, n_t)), np.zeros((prep.n_users, n_t))
    for uu, ii, y in zip(u, i, clicked, strict=True):
        t = prep.item_topic[ii]
        user_n[uu] += 1
        user_c[uu] += y
        ut_n[uu, t] += 1
        ut_c[uu, t] += y
    published = prep.item_published_s
    events = (pd.to_datetime(train[S.EVENT_TS], utc=True) - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
    rows = []
    for uu, ii, y, at in zip(u, i, clicked, events, strict=True):
        t = prep.item_topic[ii]
        aff = prep.user_affinity[uu, t]
        rows.append([0.0 if np.isnan(aff) else aff, float(np.isnan(aff)), prep.item_quality[ii],
                     max(at - published[ii], 0) / 86400.0,
                     (user_c[uu] - y + 5 * prior) / (user_n[uu] - 1 + 5),
                     (ut_c[uu, t] - y + 5 * prior) / (ut_n[uu, t] - 1 + 5)])
    num = np.array(rows)
    sd = num.std(axis=0)
    z = (num - num.mean(axis=0)) / np.where(sd > 1e-9, sd, 1.0)
    topic = np.eye(n_t)[prep.item_topic[i]]
    pub = np.eye(len(prep.publishers))[prep.item_publisher[i]]
    slots = int(train[S.POSITION].max())
    slot = np.eye(slots)[train[S.POSITION].to_numpy().astype(int) - 1][:, 1:]  # slot 1 is the reference
    return np.hstack([z, topic, pub, slot]), V.targets(train)


def test_coefficients_equal_scikit_learn_on_the_documented_design(prep, glm):
    X, Y = _hand_design(prep)
    click = LogisticRegression(C=1.0, solver="newton-cholesky").fit(X, Y[:, 0].astype(int))
    np.testing.assert_allclose(glm.coef_[0], click.coef_[0], atol=1e-4)
    assert glm.intercept_[0] == pytest.approx(click.intercept_[0], abs=1e-4)
    dwell = PoissonRegressor(alpha=1.0 / len(X), solver="newton-cholesky").fit(X, Y[:, 1])
    np.testing.assert_allclose(glm.coef_[1], dwell.coef_, atol=1e-4)
    assert glm.coef_[0][3] < 0  # clicks fall with the item's age, as the world says


def test_catalog_rows_equal_per_pair_serving_scores(prep, glm):
    users = np.arange(0, prep.n_users, 7)
    rows = glm.rows(prep, users)
    u = np.repeat(users, prep.n_items)
    i = np.tile(np.arange(prep.n_items), len(users))
    pairs = glm.serving_signals(prep, u, i).reshape(len(users), prep.n_items, 5)
    np.testing.assert_allclose(rows, pairs, rtol=1e-5, atol=1e-7)
    value = glm.value_rows(prep, users)
    np.testing.assert_allclose(value, V.value(prep, pairs, i.reshape(len(users), -1)), rtol=1e-5, atol=1e-6)


def test_training_rows_leave_their_own_click_out_of_the_rates(prep, glm):
    train = prep.train.iloc[:50]
    u, i = train[USER_POS].to_numpy(), train[ITEM_POS].to_numpy()
    y = (train[S.CLICK].to_numpy() > 0).astype(float)
    own = glm._numeric(prep, u, i, np.zeros(len(u)), own_click=y)
    full = glm._numeric(prep, u, i, np.zeros(len(u)))
    n = glm.user_n_[u]
    # leaving one clicked row out lowers the user's rate by exactly (1 − rate without it) / (n − 1 + m)
    expected = (glm.user_c_[u] - y + 5 * glm.prior_) / (n - 1 + 5)
    np.testing.assert_allclose(own[:, 4], expected)
    assert (own[y > 0, 4] < full[y > 0, 4]).all()


def test_freshness_decay_is_the_ratio_of_its_regressions_coefficients(prep):
    beta, how = B.freshness_decay(prep)
    train = prep.train
    u, i = train[USER_POS].to_numpy(), train[ITEM_POS].to_numpy()
    aq = np.nan_to_num(prep.user_affinity[u, prep.item_topic[i]]) + prep.item_quality[i]
    events = (pd.to_datetime(train[S.EVENT_TS], utc=True) - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
    age = np.maximum(events - prep.item_published_s[i], 0) / 86400
    fit = LogisticRegression(C=1e6, max_iter=1000).fit(np.column_stack([aq, age]), train[S.CLICK] > 0)
    a, b = fit.coef_[0]
    assert beta == pytest.approx(-b / a, rel=5e-3)  # both nearly unpenalised (C = 1e6), scaled differently
    assert beta > 0
    assert f"{beta:.3f}" in how


def test_smoothed_ctr_by_hand(prep):
    train = prep.train
    clicked = train[S.CLICK].to_numpy() > 0
    prior = clicked.mean()
    ctr = B.smoothed_ctr(prep)
    for item in (0, 5, 17):
        mine = train[ITEM_POS].to_numpy() == item
        assert ctr[item] == pytest.approx((clicked[mine].sum() + 5 * prior) / (mine.sum() + 5))


def test_a_constant_baseline_is_not_informative():
    from ranking.prep.lists import RankedLists

    flat = RankedLists(np.array([[3, 1, 2], [0, 2, 1]], np.int32), np.full((2, 3), 0.5, np.float32))
    assert not B.informative(flat)
    assert B.informative(RankedLists(flat.items, np.array([[0.5, 0.5, 0.5], [0.9, 0.5, 0.1]], np.float32)))


def test_stage2_starts_from_the_glm_and_hides_age_from_its_trees(prep):
    from ranking.config import CandidateConfig, GBDTConfig
    from ranking.stages.candidates import CandidateGenerator
    from ranking.stages.gbdt import GBDTRanker

    view = prep
    s1 = CandidateGenerator(CandidateConfig(), seed=0).fit(view)
    ranker = GBDTRanker(GBDTConfig(n_estimators=1, learning_rate=1e-6), seed=0, target="signals").fit(view, s1)
    assert ranker.glm_ is s1.glm_  # one model: stage 1's source is stage 2's start
    users, items = np.arange(20), np.arange(20) % prep.n_items
    # with one near-zero tree the boosters' predictions are the GLM's own serving predictions
    np.testing.assert_allclose(ranker.pair_outputs(view, users, items), s1.glm_.serving_signals(view, users, items),
                               rtol=1e-4, atol=1e-6)
    hidden = {ranker.feature_names_[j] for j in ranker.signal_model_.hidden}
    assert {"age_hours", "stage1_score", "stage1_rank"} <= hidden
