"""World v2: every signal is sampled from the expectation the library computes, by age and by slot;
different label weights want different feeds; the truth is the same from the spec and from truth.csv;
slates carry valid positions and propensities that follow their documented definition."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from ranking.config import CandidateConfig, LabelConfig, SplitConfig
from ranking.data import latent as LT
from ranking.data import load_dataset, synth
from ranking.data import policy as P
from ranking.data import schema as S
from ranking.data import world as W
from ranking.prep.split import prepare

BIG = synth.WorldSpec(n_users=3000, n_items=400, n_interactions=300_000, seed=11)
OBSERVED = {S.P_CLICK: S.CLICK, S.E_DWELL: S.DWELL, S.P_SHARE: S.SHARE, S.E_COMMENT: S.COMMENT, S.P_HIDE: S.HIDE}
AGE_BUCKETS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 7.0, 14.1)  # the policy shows items up to 14 days old


@pytest.fixture(scope="module")
def big() -> tuple[synth.World, dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]:
    """A large log, each row's expected signals (at its age and slot), its item's age in days, and each
    signal's variance per row from the documented model (second moments derived here, not by the library)."""
    world = synth.generate(BIG)
    it = world.interactions
    u, i = it[S.USER_ID].to_numpy() - 1, it[S.CONTENT_ID].to_numpy() - 101
    age = (it[S.EVENT_TS].to_numpy() - world.content[S.PUBLISHED].to_numpy()[i]) / pd.Timedelta(days=1)
    position = it[S.POSITION].to_numpy()
    expected = world.truth.pair_signals(u, i, age, position)
    p = world.truth.pair_params(u, i, age)
    exam = 1 / np.log2(position + 1)
    second = {  # E[X²]
        S.E_DWELL: exam * p["p_click"] * np.exp(2 * p["dwell_mu"] + 2 * LT.DWELL_SIGMA**2),
        S.E_COMMENT: exam * p["p_click"] * p["p_comment"] * (0.7 * 1 + 0.3 * 4),  # 1 or 2 comments
    }
    var = {name: second.get(name, e) - e**2 for name, e in expected.items()}  # binary: E[X²] = E[X]
    return world, expected, age, var


def _z(observed: np.ndarray, expected: np.ndarray, var: np.ndarray) -> float:
    """Σ(obs − exp) / √Σ var: ~N(0, 1) when the expectations are right."""
    return float((observed.astype(np.float64) - expected).sum() / np.sqrt(var.sum()))


@pytest.mark.parametrize("signal", S.SIGNALS)
def test_each_signal_matches_its_expectation_by_age_and_by_position(big, signal):
    world, expected, age, var = big
    obs, exp, v = world.interactions[OBSERVED[signal]].to_numpy(), expected[signal], var[signal]
    assert abs(_z(obs, exp, v)) < 4
    bucket = np.digitize(age, AGE_BUCKETS) - 1
    assert set(np.unique(bucket)) == set(range(len(AGE_BUCKETS) - 1))  # every age bucket is populated
    for b in range(len(AGE_BUCKETS) - 1):
        at = bucket == b
        assert abs(_z(obs[at], exp[at], v[at])) < 4, (signal, AGE_BUCKETS[b])
    position = world.interactions[S.POSITION].to_numpy()
    for p in range(1, BIG.slate_size + 1):
        at = position == p
        assert abs(_z(obs[at], exp[at], v[at])) < 4, (signal, p)


def test_the_checks_have_power_position_and_age_really_matter(big):
    world, expected, age, _ = big
    it = world.interactions
    slot10 = it[S.POSITION].to_numpy() == 10
    clicks = it[S.CLICK].to_numpy()
    unexamined = expected[S.P_CLICK][slot10] / LT.examination(10)  # as if slot 10 were looked at like slot 1
    assert _z(clicks[slot10], unexamined, unexamined * (1 - unexamined)) < -10
    shares = it[S.SHARE].to_numpy()
    old, new = age > 3, age < 0.5
    assert shares[new].mean() > 3 * shares[old].mean()  # shares die fastest with age


def test_shares_only_and_dwell_only_want_different_feeds():
    world = synth.generate(synth.WorldSpec(n_users=2000, n_items=500, n_interactions=60_000, seed=1))
    prep = prepare(world.to_dataset(), LabelConfig(), SplitConfig(), seed=0)
    users = np.arange(prep.n_users)
    mask, _ = prep.eligible(users, CandidateConfig(filter_seen=False))
    shares = LabelConfig(w_click=0, w_dwell=0, w_share=1, w_comment=0, w_hide=0)
    dwell = LabelConfig(w_click=0, w_dwell=1, w_share=0, w_comment=0, w_hide=0)

    def top10(cfg):
        g = world.truth.gain(users, cfg)
        g[~mask] = -np.inf
        return np.argsort(-g, axis=1, kind="stable")[:, :10]

    a, b = top10(shares), top10(dwell)
    overlap = np.array([len(set(x) & set(y)) / 10 for x, y in zip(a, b, strict=True)])
    assert (mask.sum(1) >= 20).mean() > 0.95  # a real choice: most users have many eligible items
    assert np.median(overlap) < 0.5
    clicks = LabelConfig(w_click=1, w_dwell=0, w_share=0, w_comment=0, w_hide=0)
    assert np.median([len(set(x) & set(y)) / 10 for x, y in zip(top10(clicks), b, strict=True)]) < 1.0


def test_truth_is_deterministic_and_identical_from_spec_and_truth_csv(tmp_path):
    spec = synth.WorldSpec(n_users=150, n_items=90, n_interactions=3000, seed=5)
    world = synth.generate(spec)
    synth.write_world(world, tmp_path, include_truth=True)
    from_csv = load_dataset(tmp_path)  # truth.csv wins over world.json when both are there
    users = np.arange(spec.n_users)
    csv_signals = from_csv.truth.signals(users)
    again = synth.truth_from_spec(W.WorldSpec.from_dict(spec.to_dict()), from_csv).signals(users)
    for name in S.SIGNALS:
        assert csv_signals[name].dtype == np.float32
        np.testing.assert_array_equal(csv_signals[name], again[name])  # bit-identical
        np.testing.assert_array_equal(world.truth.signals(users)[name], again[name])
    cfg = LabelConfig(w_share=5.0, comment_mode="indicator")
    np.testing.assert_array_equal(from_csv.truth.gain(users, cfg), world.truth.gain(users, cfg))
    np.testing.assert_array_equal(from_csv.truth.rows(users), world.truth.rows(users))
    assert (from_csv.truth.rows(users) >= 0).all()


def test_truth_ages_items_at_now():
    spec = synth.WorldSpec(n_users=100, n_items=200, n_interactions=2000, seed=2)
    world = synth.generate(spec)
    now = pd.Timestamp(spec.to_dict()["now"])
    age = (now - world.content[S.PUBLISHED]).dt.total_seconds().to_numpy() / 86400
    np.testing.assert_allclose(world.truth.age_now, age)
    old = W.truth_from_spec(spec)
    shifted = dataclasses.replace(old, age_now=old.age_now + 2.0)  # the same world two days later
    users = np.arange(100)
    for name in (S.P_CLICK, S.P_SHARE, S.E_COMMENT):
        assert (shifted.signals(users)[name] < old.signals(users)[name]).all(), name
    assert (shifted.signals(users)[S.P_HIDE] > old.signals(users)[S.P_HIDE]).all()  # stale news annoys


def test_positions_and_propensities_follow_their_definition():
    spec = synth.WorldSpec(n_users=60, n_items=80, n_interactions=1500, seed=4)
    world = synth.generate(spec)
    it = world.interactions
    pos, prop = it[S.POSITION].to_numpy(), it[S.PROPENSITY].to_numpy(np.float64)
    assert pos.dtype.kind == "i"
    assert pos.min() == 1
    assert pos.max() == spec.slate_size
    assert ((prop > 0) & (prop <= 1)).all()
    assert not it.duplicated([S.USER_ID, S.CONTENT_ID]).any()
    # recompute a few slates from the documented policy: w = topic_mix · popularity · freshness over the pool
    pop = W._population(spec)
    stated = pop.stated + 1e-3
    mix = spec.personalisation * stated / stated.sum(1, keepdims=True) + (1 - spec.personalisation) / 5
    popularity = np.exp(pop.buzz + 2.0 * (pop.truth.item_quality - 0.5))
    event_s = ((it[S.EVENT_TS] - spec.start_ts).dt.total_seconds().to_numpy()).astype(np.int64)
    visit_s = event_s - P.SLOT_SECONDS * (pos - 1)
    u, i = it[S.USER_ID].to_numpy() - 1, it[S.CONTENT_ID].to_numpy() - 101
    checked = 0
    for user in range(0, spec.n_users, 7):
        mine = np.flatnonzero(u == user)
        for t in np.unique(visit_s[mine]):
            slate = mine[visit_s[mine] == t]
            slate = slate[np.argsort(pos[slate])]
            if len(slate) < spec.slate_size:
                continue  # a slate cut at the end of the log
            earlier = i[mine[visit_s[mine] < t]]
            age = t - pop.published_s
            pool = ((age >= 60) & (age <= P.POLICY_MAX_AGE_DAYS * 86400)
                    & ((pop.restriction < 0) | (pop.restriction == pop.region[user])))
            pool[earlier] = False
            w = np.where(pool, mix[user, pop.truth.item_topic] * popularity * np.exp(-age / (1.5 * 86400)), 0.0)
            shown_w = w[i[slate]]
            expected = shown_w / (w.sum() - np.concatenate([[0.0], np.cumsum(shown_w)[:-1]]))
            np.testing.assert_allclose(prop[slate], expected, rtol=1e-5)
            checked += 1
    assert checked >= 10


def test_seedlike_tables_load_without_positions_or_truth(seed_dir):
    """The fixture twin of the next test: the notebook's three tables carry no slot and no truth."""
    from ranking.prep import labels as L

    ds = load_dataset(seed_dir)
    assert S.POSITION not in ds.interactions
    assert ds.truth is None
    assert 0 < int(L.label(L.score(ds.interactions)).sum()) < len(ds.interactions)


def test_the_seed_tables_still_label_as_before(real_seed_dir):
    from ranking.prep import labels as L

    ds = load_dataset(real_seed_dir)
    assert S.POSITION not in ds.interactions
    assert int(L.label(L.score(ds.interactions)).sum()) == 37
    assert ds.truth is None


def test_an_old_world_folder_is_refused_with_advice(tmp_path):
    from ranking.data.formats import write_json
    from ranking.errors import DataError

    world = synth.generate(synth.WorldSpec(n_users=30, n_items=20, n_interactions=200, seed=1))
    synth.write_world(world, tmp_path, include_truth=False)
    old = {**world.spec.to_dict(), "generator_version": 1}
    write_json(tmp_path / S.WORLD_FILE, old)
    with pytest.raises(DataError) as err:
        load_dataset(tmp_path)
    assert any("generator version 1" in p and "Regenerate the world" in p for p in err.value.problems)


def test_written_world_has_positions_propensities_titles_and_a_column_per_signal(tmp_path):
    synth.write_world(synth.generate(synth.WorldSpec(n_users=40, n_items=30, n_interactions=500, seed=3)), tmp_path)
    header = {name: (tmp_path / name).read_text().split("\n", 1)[0].split(",")
              for name in ("Interaction.csv", "Content.csv", S.TRUTH_FILE)}
    assert header["Interaction.csv"][-2:] == [S.POSITION, S.PROPENSITY]
    assert header["Content.csv"][-1] == S.TITLE
    assert header[S.TRUTH_FILE] == [S.USER_ID, S.CONTENT_ID, *S.SIGNALS]
    ds = load_dataset(tmp_path)
    assert ds.warnings == ()
    assert ds.content[S.TITLE].str.contains(": ").all()  # "Publisher: headline"
    assert ds.content[S.TITLE].nunique() > 25


@pytest.mark.parametrize(("users", "items", "n", "seed"), [(3, 5, 100, 0), (2, 40, 7, 1), (50, 12, 900, 2),
                                                           (1, 1, 3, 3), (30, 200, 2999, 4)])
def test_tiny_and_saturated_worlds_log_exactly_n(users, items, n, seed):
    w = synth.generate(synth.WorldSpec(n_users=users, n_items=items, n_interactions=n, seed=seed,
                                       n_publishers=1 if items < 10 else None))
    assert len(w.interactions) == n
    assert w.interactions[S.POSITION].between(1, 10).all()
    assert (w.interactions[S.PROPENSITY] > 0).all()
