"""ranking.online: sampled outcomes against the world's model, A/A calibration, oracle vs random, team-draft
by hand, the feedback loop's determinism and its exposure Gini; expectations derived in the tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ranking.data import schema as S
from ranking.data import synth
from ranking.errors import DataError
from ranking.online import (
    LiveWorld,
    OraclePolicy,
    PopularityPolicy,
    RandomPolicy,
    ab_test,
    interleave_test,
    team_draft,
)
from ranking.online.interleave import TEAM_A, TEAM_B, credit, impressions_needed
from ranking.online.loop import feedback_loop
from ranking.online.measures import gini, jaccard_pairs

TINY = synth.WorldSpec(n_users=300, n_items=80, n_interactions=6000, seed=3)


@pytest.fixture(scope="module")
def tiny():
    return synth.generate(TINY).to_dataset()


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def _expected(t, u, i, a, p):
    """Every signal's expectation at age ``a`` days and slot ``p``, written out from ranking.data.latent's docstring."""
    U = t.pair_utility(np.full(len(i), u), i)
    c, d, v = t.clickbait[i] - 0.25, t.depth[i] - 0.5, t.controversy[i] - 0.25
    exam = 1.0 / np.log2(p + 1.0)
    pc = _sig(U + 2.0 * c - 0.3 * a)
    dwell_mu = np.log(30.0) + 2.0 * d - 1.5 * c + 0.5 * (_sig(U) - 0.5) - 0.03 * a
    return {
        S.CLICK: exam * pc,
        S.DWELL: exam * pc * np.exp(dwell_mu + 0.6**2 / 2),
        S.SHARE: exam * _sig(-2.5 + t.share_prop[u] + 0.5 * U + 3.5 * v + 1.0 * d - 1.0 * c - 1.0 * a),
        S.COMMENT: exam * 1.3 * pc * _sig(-2.0 + t.comment_prop[u] + 0.5 * U + 3.0 * v - 0.4 * a),
        S.HIDE: exam * (1 - pc) * _sig(-3.2 - 0.5 * U + 2.0 * c + 2.0 * v + 0.1 * a),
    }


def test_sampled_outcomes_match_the_worlds_expectations_at_every_slot(tiny):
    world = LiveWorld(tiny, seed=1)
    n = 20_000
    slates = OraclePolicy().slates(world)  # live items each user cares about: signals are frequent
    user = int(np.flatnonzero((slates >= 0).all(1))[0])  # a user with ten eligible items
    slate = slates[user]
    slates = np.tile(slate, (n, 1))
    start = np.full(n, world.now_s)
    log = world.serve(slates, np.full(n, user), start)
    pos = log["position"]
    age = (world.now_s + 5 * (np.arange(10)) - world.published_s[slate]) / 86400
    exp = _expected(world.truth, user, slate, age, np.arange(1, 11))
    for signal in (S.CLICK, S.SHARE, S.HIDE):  # Bernoulli: exact binomial interval
        for p in range(1, 11):
            k = int(log[signal][pos == p].sum())
            lo, hi = stats.binomtest(k, n).proportion_ci(0.999)
            assert lo <= exp[signal][p - 1] <= hi, (signal, p, k / n, exp[signal][p - 1])
    for signal in (S.DWELL, S.COMMENT):  # counts and seconds: normal interval with the sample's own sd
        for p in range(1, 11):
            y = log[signal][pos == p].astype(float)
            half = 3.29 * y.std(ddof=1) / np.sqrt(n) + 1e-12
            assert abs(y.mean() - exp[signal][p - 1]) <= half, (signal, p, y.mean(), exp[signal][p - 1])


def test_the_served_log_loads_as_a_dataset_with_positions_propensities_and_new_items(tiny):
    world = LiveWorld(tiny, seed=0)
    world.run_days(3, OraclePolicy().slates)
    ds = world.to_dataset()
    assert ds.n_items == world.n_items > tiny.n_items  # new items were published, at about the world's rate
    assert len(ds.interactions) == len(tiny.interactions) + sum(len(p["user"]) for p in world.log)
    new = ds.interactions.iloc[len(tiny.interactions):]
    assert {S.POSITION, S.PROPENSITY} <= set(ds.interactions.columns)
    assert new[S.POSITION].between(1, 10).all()
    assert (new[S.PROPENSITY] == 1.0).all()
    now = pd.Timestamp(tiny.spec["now"])
    assert now <= new[S.EVENT_TS].min()
    assert new[S.EVENT_TS].max() < now + pd.Timedelta(days=3)
    assert ds.spec["now"] > tiny.spec["now"]


def test_new_items_follow_the_worlds_publishers():
    from ranking.data.world import _population
    from ranking.online.live import _publisher_params

    pop = _population(TINY)
    _, quality, _, _ = _publisher_params(TINY)
    r = np.corrcoef(quality[pop.truth.item_publisher], pop.truth.item_quality)[0, 1]
    assert r > 0.7  # items' quality = their publisher's + N(0, 0.12): the recomputed publishers are the world's


def test_the_same_seed_gives_the_same_test_and_another_seed_another(tiny):
    a = ab_test(tiny, RandomPolicy(), OraclePolicy(), days=2, seed=4)
    b = ab_test(tiny, RandomPolicy(), OraclePolicy(), days=2, seed=4)
    c = ab_test(tiny, RandomPolicy(), OraclePolicy(), days=2, seed=5)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert not a.table["B − A"].equals(c.table["B − A"])


def test_an_aa_test_flags_a_difference_in_about_5_percent_of_seeds(tiny):
    flagged = 0
    for seed in range(200):
        res = ab_test(tiny, PopularityPolicy(), PopularityPolicy(), days=2, seed=seed)
        row = res.table[(res.table["metric"] == "value") & (res.table["per"] == "impression")].iloc[0]
        flagged += not (row["low"] <= 0 <= row["high"])
    assert 4 <= flagged <= 18, flagged  # 2 % to 9 % of 200


def test_the_oracle_beats_random_online_on_every_signal(tiny):
    res = ab_test(tiny, RandomPolicy(), OraclePolicy(), days=28, seed=0)  # ~5,600 impressions
    t = res.table[res.table["per"] == "impression"].set_index("metric")
    for metric in (S.CLICK, S.DWELL, S.SHARE, S.COMMENT, "value"):
        assert t.loc[metric, "low"] > 0, metric
    assert t.loc[S.HIDE, "high"] < 0
    assert "oracle better" in res.verdict()
    assert "agreed" in res.verdict()


def test_team_draft_gives_the_hand_computed_slate_and_credit():
    a = np.array([[1, 2, 3, 4]])
    b = np.array([[2, 1, 5, 6]])
    # coin: A picks first in every round → A:1, B:2 (its best not taken), A:3 (1, 2 taken), B:5 (2, 1 taken)
    slate, team = team_draft(a, b, np.ones((1, 3), bool), length=4)
    assert slate.tolist() == [[1, 2, 3, 5]]
    assert team.tolist() == [[TEAM_A, TEAM_B, TEAM_A, TEAM_B]]
    # coin B first: B:2, A:1, B:1? taken → B:5, A:3
    slate, team = team_draft(a, b, np.zeros((1, 3), bool), length=4)
    assert slate.tolist() == [[2, 1, 5, 3]]
    assert team.tolist() == [[TEAM_B, TEAM_A, TEAM_B, TEAM_A]]
    # three visits: clicks on (2, 5) → B wins 2–0; on (1) → A wins; none → tie
    log = {"visit": np.array([0, 0, 1, 2]), "team": np.array([TEAM_B, TEAM_B, TEAM_A, TEAM_A]),
           S.CLICK: np.array([1, 1, 1, 0])}
    assert credit(log) == (1, 1, 1)
    log[S.CLICK] = np.array([1, 1, 0, 0])
    assert credit(log) == (0, 1, 2)
    # by compound value (default label): a hidden A item (−1) loses to nothing; a shared one (+2) wins
    log.update({S.CLICK: np.zeros(4), S.DWELL: np.zeros(4), S.SHARE: np.array([0, 0, 0, 1]),
                S.COMMENT: np.zeros(4), S.HIDE: np.array([0, 0, 1, 0])})
    assert credit(log, by="value") == (1, 1, 1)  # visit 0: 0 v 0 tie; visit 1: A −1 < 0 → B; visit 2: A +2 → A


def test_team_draft_lets_the_other_team_pick_when_one_runs_out():
    slate, team = team_draft(np.array([[1, -1]]), np.array([[1, 2]]), np.ones((1, 3), bool), length=3)
    assert slate.tolist() == [[1, 2, -1]]
    assert team.tolist() == [[TEAM_A, TEAM_B, 0]]


def test_interleaving_prefers_the_oracle_and_estimates_the_impressions_needed(tiny):
    res = interleave_test(tiny, RandomPolicy(), OraclePolicy(), days=3, seed=0)
    assert res.wins_b > res.wins_a
    assert res.p_value < 0.05
    need = impressions_needed(tiny, RandomPolicy(), OraclePolicy(), days=2, repeats=3).set_index("method")
    assert (need["impressions needed"] > 0).all()


def test_gini_and_jaccard_by_hand():
    assert gini(np.array([0, 0, 0, 1])) == pytest.approx(0.75)  # one item takes all: (n − 1) / n
    assert gini(np.array([2, 2, 2])) == pytest.approx(0.0)
    user, item = np.array([0, 0, 1, 1]), np.array([1, 2, 2, 3])  # {1, 2} and {2, 3}: 1 / 3
    assert jaccard_pairs(user, item, 2, 4, 50, np.random.default_rng(0)) == pytest.approx(1 / 3)


def test_a_dataset_without_a_world_is_refused(seed_dir):
    from ranking.data.io import load_dataset

    with pytest.raises(DataError, match="no generated world"):
        LiveWorld(load_dataset(seed_dir))


def test_the_loop_is_deterministic_per_seed(tiny):
    a = feedback_loop(tiny, PopularityPolicy(), rounds=2, days=2, seed=1).table
    b = feedback_loop(tiny, PopularityPolicy(), rounds=2, days=2, seed=1).table
    pd.testing.assert_frame_equal(a, b)


def test_a_popularity_loop_concentrates_exposure_on_a_default_world():
    dataset = synth.generate(synth.WorldSpec()).to_dataset()
    table = feedback_loop(dataset, PopularityPolicy(), rounds=3, days=3, seed=0).table
    g = table["exposure Gini"].to_numpy()
    assert (g[1:] > g[0]).all(), g  # every deployed round is more concentrated than the logging policy's
    assert table["feed similarity (Jaccard)"].iloc[1:].min() > table["feed similarity (Jaccard)"].iloc[0]


def test_a_random_feed_logs_its_propensities_and_a_ranking_logs_one(tiny):
    world = LiveWorld(tiny, seed=2)
    n_eligible = world.eligible().sum(1)
    policy = RandomPolicy(seed=1)
    log = world.run_days(1, policy.slates, propensity=policy.propensity)
    # slot p is drawn uniformly from the items not already in slots 1..p−1
    np.testing.assert_allclose(log["propensity"], 1.0 / (n_eligible[log["user"]] - log["position"] + 1))
    log = world.run_days(1, OraclePolicy().slates)
    assert (log["propensity"] == 1.0).all()
