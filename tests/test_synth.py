"""The synthetic world: deterministic, in the seed schema, and with the planted structure really there."""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from ranking.data import latent as LT
from ranking.data import schema as S
from ranking.data import synth
from ranking.data import world as W
from ranking.errors import ConfigError, DataError
from ranking.prep import labels as L

SMALL = synth.WorldSpec(n_users=200, n_items=60, n_interactions=3000, seed=7)


@pytest.fixture(scope="module")
def world() -> synth.World:
    return synth.generate(synth.WorldSpec())


def _pairs(world: synth.World) -> tuple[np.ndarray, np.ndarray]:
    return (world.interactions[S.USER_ID].to_numpy() - 1, world.interactions[S.CONTENT_ID].to_numpy() - 101)


def spec_now(world: synth.World) -> pd.Timestamp:
    return world.spec.now


def _frames_equal(a: synth.World, b: synth.World) -> None:
    for name in ("users", "content", "interactions"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))


def test_same_seed_gives_identical_frames():
    _frames_equal(synth.generate(SMALL), synth.generate(SMALL))


def test_same_seed_gives_identical_bytes(tmp_path):
    for out in ("a", "b"):
        synth.write_world(synth.generate(SMALL), tmp_path / out)
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert {S.WORLD_FILE, S.TRUTH_FILE} <= set(files)
    assert files == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_different_seed_gives_a_different_world():
    a, b = synth.generate(SMALL), synth.generate(dataclasses.replace(SMALL, seed=8))
    assert not a.users.equals(b.users)
    assert not a.interactions.equals(b.interactions)


def test_interaction_count_leaves_users_and_content_alone():
    a = synth.generate(SMALL)
    b = synth.generate(synth.WorldSpec(n_users=200, n_items=60, n_interactions=500, seed=7))
    pd.testing.assert_frame_equal(a.users, b.users)
    pd.testing.assert_frame_equal(a.content, b.content)


def test_sizes_ids_and_columns(world):
    spec = world.spec
    assert (len(world.users), len(world.content), len(world.interactions)) == (1000, 300, 20000)
    assert world.users[S.USER_ID].tolist() == list(range(1, 1001))
    assert world.content[S.CONTENT_ID].tolist() == list(range(101, 401))
    assert list(world.users.columns) == [S.USER_ID, S.DEVICE, S.REGION, *W.AFFINITY_COLUMNS, S.SESSION,
                                         S.BLOCKLIST]
    assert list(world.content.columns) == [*S.CONTENT_COLUMNS, S.TITLE]
    assert list(world.interactions.columns) == [*S.INTERACTION_COLUMNS, S.POSITION, S.PROPENSITY]
    assert world.content[S.PUBLISHER].nunique() == spec.publishers == 10
    assert set(world.content[S.PUBLISHER]) == {name for name, _ in W.PUBLISHERS[:10]}


def test_values_are_in_their_domains(world):
    u, c, it = world.users, world.content, world.interactions
    assert set(u[S.DEVICE]) == {"mobile", "desktop", "tablet"}
    assert set(u[S.REGION]) == set(S.REGIONS)  # "NA" is a string, never missing
    aff = u[list(W.AFFINITY_COLUMNS)].to_numpy()
    assert aff.min() >= 0
    assert aff.max() <= 1
    assert np.array_equal(aff, aff.round(2))
    assert set(c[S.TOPIC]) == set(W.TOPICS)
    assert set(c[S.RESTRICTION]) == {"ALL", "NA", "EU", "AS"}
    assert (c[S.RESTRICTION] == "ALL").mean() > 0.6
    assert c[S.QUALITY].between(0, 1).all()
    assert set(it[S.CLICK]) == set(it[S.SHARE]) == set(it[S.HIDE]) == {0, 1}
    assert set(it[S.COMMENT]) == {0, 1, 2}
    assert (it[S.DWELL] >= 0).all()
    assert np.array_equal(it[S.DWELL], it[S.DWELL].round(1))
    for ts in (c[S.PUBLISHED], it[S.EVENT_TS]):
        assert str(ts.dt.tz) == "UTC"
    published = c.set_index(S.CONTENT_ID)[S.PUBLISHED].reindex(it[S.CONTENT_ID]).to_numpy()
    assert (it[S.EVENT_TS].to_numpy() > published).all()
    span = c[S.PUBLISHED].max() - c[S.PUBLISHED].min()
    assert pd.Timedelta(days=32) < span <= pd.Timedelta(days=30 + W.PREHISTORY_DAYS)  # a week before the log
    assert (c[S.PUBLISHED] < spec_now(world)).all()
    assert (it[S.EVENT_TS] < spec_now(world)).all()
    fresh = (spec_now(world) - c[S.PUBLISHED]) < pd.Timedelta(hours=W.FRESH_HOURS)
    assert 0.08 < fresh.mean() < 0.2  # the burst just before "now", plus the steady flow


def test_tables_validate_through_the_loader(world):
    ds = world.to_dataset()
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (1000, 300, 20000)
    assert set(ds.affinity) == set(W.TOPICS)
    assert ds.truth is not None
    assert ds.spec == world.spec.to_dict()
    assert ds.truth.rows(np.arange(3)).shape == (3, 300)


def test_impressions_are_region_eligible_and_unique(world):
    u, i = _pairs(world)
    region = world.users[S.REGION].to_numpy()[u]
    restriction = world.content[S.RESTRICTION].to_numpy()[i]
    assert ((restriction == "ALL") | (restriction == region)).all()
    assert len(np.unique(u * 1000 + i)) == len(u)


def test_a_saturated_world_still_has_exactly_the_asked_interactions():
    w = synth.generate(synth.WorldSpec(n_users=4, n_items=10, n_interactions=60, n_publishers=3))
    assert len(w.interactions) == 60


def test_blocklists_name_real_publishers(world):
    names = world.users[S.BLOCKLIST].str.split(";").explode()
    names = names[names != ""]
    share = (world.users[S.BLOCKLIST] != "").mean()
    assert 0.1 < share < 0.2  # blocklist_share = 0.15
    assert len(names)
    assert set(names) <= set(world.content[S.PUBLISHER])


def test_truth_from_spec_equals_generated_truth(world):
    users = np.arange(world.spec.n_users)
    again = synth.truth_from_spec(json.loads(json.dumps(world.spec.to_dict())))
    np.testing.assert_array_equal(again.rows(users), world.truth.rows(users))
    assert world.truth.rows(users).dtype == np.float32


def test_truth_from_spec_follows_the_dataset_row_order(world):
    ds = world.to_dataset()
    shuffled = type(ds)(users=ds.users.iloc[::-1], content=ds.content.iloc[::-1],
                        interactions=ds.interactions, affinity=ds.affinity)
    truth = synth.truth_from_spec(world.spec, shuffled)
    np.testing.assert_array_equal(truth.rows([0]), world.truth.rows([999])[:, ::-1])
    other = synth.WorldSpec(seed=1)
    with pytest.raises(DataError, match="does not describe"):
        synth.truth_from_spec(other, ds)


def test_utility_and_signals_are_the_documented_formulas(world):
    t, u, i = world.truth, 17, 42
    pub = t.item_publisher[i]
    interest = (LT.B0 + t.bias[u] + LT.B_TOPIC * t.taste[u, t.item_topic[i]]
                + LT.B_PUB * t.pub_pref[u, pub] + LT.B_QUALITY * (t.item_quality[i] - 0.5)
                + LT.B_CF * t.user_factors[u] @ t.item_factors[i] - LT.B_BLOCK * t.blocked[u, pub])
    assert t.utility([u])[0, i] == pytest.approx(interest)
    assert t.pair_utility([u], [i])[0] == pytest.approx(interest)

    def sig(x):
        return 1 / (1 + np.exp(-x))

    a, c, d, v = t.age_now[i], t.clickbait[i], t.depth[i], t.controversy[i]
    click = sig(interest + 2.0 * (c - 0.25) - 0.3 * a)
    mu = np.log(30) + 2.0 * (d - 0.5) - 1.5 * (c - 0.25) + 0.5 * (sig(interest) - 0.5) - 0.03 * a
    share = sig(-2.5 + t.share_prop[u] + 0.5 * interest + 3.5 * (v - 0.25) + 1.0 * (d - 0.5) - 1.0 * (c - 0.25)
                - 1.0 * a)
    comment = sig(-2.0 + t.comment_prop[u] + 0.5 * interest + 3.0 * (v - 0.25) - 0.4 * a)
    hide = sig(-3.2 - 0.5 * interest + 2.0 * (c - 0.25) + 2.0 * (v - 0.25) + 0.1 * a)
    expected = {S.P_CLICK: click, S.E_DWELL: click * np.exp(mu + 0.6**2 / 2), S.P_SHARE: share,
                S.E_COMMENT: 1.3 * click * comment, S.P_HIDE: (1 - click) * hide}
    got = t.signals([u])
    for name, value in expected.items():
        assert got[name][0, i] == pytest.approx(value, rel=1e-5), name
    default = click + 0.5 * expected[S.E_DWELL] / 10 + 2 * share + 1.3 * click * comment - (1 - click) * hide
    assert t.gain([u])[0, i] == pytest.approx(default, rel=1e-5, abs=1e-6)
    assert t.rows([u])[0, i] == pytest.approx(max(default, 0.0), rel=1e-5, abs=1e-6)
    at_slot_3 = t.pair_signals([u], [i], [a], position=[3])
    assert at_slot_3[S.P_SHARE][0] == pytest.approx(share / np.log2(4))


def test_truth_table_is_long_and_matches_signals(world):
    table = world.truth_table()
    assert list(table.columns) == [S.USER_ID, S.CONTENT_ID, *S.SIGNALS]
    assert len(table) == 300_000
    first = world.truth.signals([0])
    for name in S.SIGNALS:
        np.testing.assert_array_equal(table[name].to_numpy()[:300], first[name][0])
    assert table.iloc[300][S.USER_ID] == 2
    assert table.iloc[300][S.CONTENT_ID] == 101


def test_label_rate_and_examination(world):
    positive = L.label(L.score(world.interactions)).astype(bool)
    assert 0.05 <= positive.mean() <= 0.25
    assert not positive[~world.examined].any()  # nothing happens to an impression nobody looked at
    outcomes = world.interactions[list(S.OUTCOMES)].to_numpy()
    assert (outcomes[~world.examined] == 0).all()
    exam = LT.examination(world.interactions[S.POSITION].to_numpy())
    z = (world.examined.sum() - exam.sum()) / np.sqrt((exam * (1 - exam)).sum())
    assert abs(z) < 4


def test_stated_affinities_are_noisy_views_of_true_tastes(world):
    stated = world.users[list(W.AFFINITY_COLUMNS)].to_numpy()
    match = (world.truth.taste.argmax(1) == stated.argmax(1)).mean()
    assert 0.3 < match < 0.9  # chance is 0.2


def test_blocked_publishers_kill_engagement(world):
    u, i = _pairs(world)
    p = world.truth.signals(np.arange(1000))[S.P_CLICK][u, i]
    blocked = world.truth.blocked[u, world.truth.item_publisher[i]]
    assert blocked.sum() > 50
    assert p[blocked].mean() < 0.1 * p[~blocked].mean()
    hide = world.interactions[S.HIDE].to_numpy().astype(bool)
    assert hide[blocked].mean() > 3 * hide[~blocked].mean()


def test_expected_score_ranks_observed_labels_better_than_chance(world):
    u, i = _pairs(world)
    positive = L.label(L.score(world.interactions))
    it = world.interactions
    age = (it[S.EVENT_TS].to_numpy() - world.content[S.PUBLISHED].to_numpy()[i]) / pd.Timedelta(days=1)
    expected = world.truth.pair_signals(u, i, age, it[S.POSITION].to_numpy())
    score = (expected[S.P_CLICK] + 0.05 * expected[S.E_DWELL] + 2 * expected[S.P_SHARE]
             + expected[S.E_COMMENT] - expected[S.P_HIDE])
    auc = roc_auc_score(positive, score)
    random_auc = roc_auc_score(positive, np.random.default_rng(0).random(len(u)))
    assert auc > 0.75 > random_auc + 0.1


def test_spec_round_trip_and_validation():
    spec = synth.WorldSpec(n_users=10, n_items=20, n_interactions=5, seed=3, n_publishers=4)
    d = json.loads(json.dumps(spec.to_dict()))
    assert d["generator_version"] == W.GENERATOR_VERSION
    assert d["now"] == "2025-05-01T00:00:00Z"  # start + days: the serving time
    assert synth.WorldSpec.from_dict(d) == spec
    with pytest.raises(ConfigError, match="unknown"):
        synth.WorldSpec.from_dict({**d, "colour": 1})
    with pytest.raises(ConfigError, match=r"generator version 99.*Regenerate the world"):
        synth.WorldSpec.from_dict({**d, "generator_version": 99})
    with pytest.raises(ConfigError, match="now"):
        synth.WorldSpec.from_dict({**d, "now": "2030-01-01T00:00:00Z"})
    with pytest.raises(ConfigError, match="n_users"):
        synth.WorldSpec(n_users=0)
    with pytest.raises(ConfigError, match="n_publishers"):
        synth.WorldSpec(n_items=5, n_publishers=6)


def test_a_world_written_without_truth_gets_it_back_from_world_json(tmp_path):
    from ranking.data import load_dataset

    world = synth.generate(SMALL)
    synth.write_world(world, tmp_path, include_truth=False)
    assert not (tmp_path / S.TRUTH_FILE).exists()
    assert json.loads((tmp_path / S.WORLD_FILE).read_text())["seed"] == 7
    ds = load_dataset(tmp_path)
    assert ds.warnings == ()
    users = np.arange(SMALL.n_users)
    np.testing.assert_array_equal(ds.truth.rows(users), world.truth.rows(users))


def test_medium_world_speed_report():
    spec = synth.WorldSpec(n_users=10_000, n_items=2000, n_interactions=200_000)
    t0 = time.perf_counter()
    w = synth.generate(spec)
    print(f"\ngenerate 10k×2k×200k: {time.perf_counter() - t0:.2f} s")
    assert len(w.interactions) == 200_000


@pytest.mark.parametrize(("users", "items"), [(1000, 10), (100, 5000)])
def test_a_saturated_world_is_logged_in_bounded_steps(monkeypatch, users, items):
    """The app's ?g_users=1000&g_items=10&g_inter=400000 (allowed sizes): 400,000 rows from 10,000 pairs;
    and 400,000 rows of 100 users × 5,000 items, most of the pairs a user may see.

    The first used to plan 20 visits per wanted row and log them round by round, each round re-sorting the
    whole log (thousands of rounds: 18+ minutes of a core); the second took a round per visit of its most
    active user (2,097 rounds). A slate step draws at most 10 rows per visit, so 400,000 rows need at least
    400,000 / 10 = 40,000 visits; drawn in chunks, a handful of steps suffice.
    """
    from ranking.data import policy

    steps, real = [], policy._slates

    def counted(*args, **kwargs):
        steps.append(len(args[0]))
        if len(steps) > 50:
            raise AssertionError(f"more than 50 slate steps ({sum(steps):,} visits so far)")
        return real(*args, **kwargs)

    monkeypatch.setattr(policy, "_slates", counted)
    w = synth.generate(synth.WorldSpec(n_users=users, n_items=items, n_interactions=400_000, seed=0))
    assert len(w.interactions) == 400_000
    assert sum(steps) >= 400_000 / 10
    log = w.interactions.merge(w.users[[S.USER_ID, S.REGION]]).merge(w.content[[S.CONTENT_ID, S.RESTRICTION]])
    assert ((log[S.RESTRICTION] == "ALL") | (log[S.RESTRICTION] == log[S.REGION])).all()
    assert (log[S.PROPENSITY] > 0).all()


def test_a_world_that_cannot_be_logged_is_refused_with_a_sentence(monkeypatch):
    from ranking.data import policy

    monkeypatch.setattr(policy, "_MAX_VISITS_PER_ROW", 0.01)  # every world's visits fall short of its rows
    with pytest.raises(ConfigError, match=r"this world cannot log 4,000 interactions: .* ask for fewer interactions"):
        synth.generate(synth.WorldSpec(n_users=20, n_items=10, n_interactions=4000, seed=0))


@pytest.mark.parametrize("n", [500, 4000])  # 4000 > the 200 user × item pairs: a saturated world
def test_progress_rises_to_one(n):
    reports = []
    synth.generate(synth.WorldSpec(n_users=20, n_items=10, n_interactions=n, seed=0),
                   progress=lambda fraction, message: reports.append(fraction))
    assert reports == sorted(reports)
    assert reports[0] == 0.0
    assert reports[-1] == 1.0


def test_a_progress_report_that_raises_stops_the_generation():
    class Stop(Exception):
        pass

    def stop_at_the_log(fraction, message):
        if message.startswith("logging"):
            raise Stop(message)

    with pytest.raises(Stop):
        synth.generate(synth.WorldSpec(n_users=50, n_items=20, n_interactions=500, seed=0), progress=stop_at_the_log)
