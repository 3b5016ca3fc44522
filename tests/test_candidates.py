"""Stage 1: eligibility filters, the three sources, quotas, score_pairs and the fast list kernels."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from ranking.config import CandidateConfig, LabelConfig, SplitConfig
from ranking.data.dataset import Dataset
from ranking.errors import TrainingError
from ranking.prep import lists
from ranking.prep.split import prepare
from ranking.stages import candidates as C
from ranking.stages import cf as CF

DAY0 = pd.Timestamp("2025-04-01", tz="UTC")
NO_FILTERS = {"filter_region": False, "filter_blocklist": False, "filter_seen": False}


def _dataset(users: list[tuple], content: list[tuple], inter: list[tuple],
             age_days: list[float] | None = None) -> Dataset:
    """users: (region, politics, tech, sports, blocklist); content: (publisher, topic, restriction, quality);
    interactions: (user_row, item_row, click, dwell, share, hide, day). Items are ``age_days`` old (default
    1 day, well inside the 7-day age limit) at serving time "now" = the last event."""
    u = pd.DataFrame(users, columns=["region", "p", "t", "s", "blocklist"])
    users_df = pd.DataFrame({
        "user_id": np.arange(1, len(u) + 1, dtype=np.int64),
        "device_type": pd.Categorical(["mobile"] * len(u)),
        "region": pd.Categorical(u["region"]),
        "topic_affinity_politics": u["p"].astype(np.float32),
        "topic_affinity_tech": u["t"].astype(np.float32),
        "topic_affinity_sports": u["s"].astype(np.float32),
        "avg_session_length": np.full(len(u), 5.0, np.float32),
        "blocklist": u["blocklist"].astype(str),
    })
    c = pd.DataFrame(content, columns=["publisher", "topic", "restriction", "quality"])
    content_df = pd.DataFrame({
        "content_id": np.arange(101, 101 + len(c), dtype=np.int64),
        "publisher": pd.Categorical(c["publisher"]), "topic": pd.Categorical(c["topic"]),
        "quality_score": c["quality"].astype(np.float32),
        "region_restriction": pd.Categorical(c["restriction"]),
        "publish_timestamp": (DAY0 + pd.to_timedelta(max(r[-1] for r in inter) - np.asarray(
            age_days if age_days is not None else [1.0] * len(c)), unit="D")).astype("datetime64[ns, UTC]"),
    })
    rows = pd.DataFrame(inter, columns=["u", "i", "click", "dwell", "share", "hide", "day"])
    inter_df = pd.DataFrame({
        "user_id": (rows["u"] + 1).astype(np.int64), "content_id": (rows["i"] + 101).astype(np.int64),
        "click": rows["click"].astype(np.int8), "dwell_time": rows["dwell"].astype(np.float64),
        "share": rows["share"].astype(np.int8), "comment": np.zeros(len(rows), np.int16),
        "hide": rows["hide"].astype(np.int8),
        "event_timestamp": (DAY0 + pd.to_timedelta(rows["day"], unit="D")).astype("datetime64[ns, UTC]"),
    })
    affinity = {"politics": "topic_affinity_politics", "technology": "topic_affinity_tech",
                "sports": "topic_affinity_sports"}
    return Dataset(users=users_df, content=content_df, interactions=inter_df, affinity=affinity, name="tiny")


def _tiny():
    """4 users × 6 items; every interaction stays in training (fewer than min_history per user)."""
    users = [("NA", 0.9, 0.1, 0.5, ""), ("EU", 0.2, 0.8, 0.3, "pubB"), ("AS", 0.5, 0.5, 0.5, ""),
             ("NA", 0.4, 0.6, 0.2, "pubA;pubB; pubC")]
    content = [("pubA", "politics", "ALL", 0.9), ("pubB", "technology", "EU", 0.8),
               ("pubA", "sports", "ALL", 0.3), ("pubB", "politics", "ALL", 0.7),
               ("pubC", "business", "NA", 0.6), ("pubC", "technology", "ALL", 0.5)]
    inter = [(0, 0, 1, 20.0, 1, 0, 10.0),  # positive (score 4)
             (0, 3, 0, 0.0, 0, 1, 8.0),  # hidden
             (1, 5, 1, 20.0, 1, 0, 9.0),  # positive
             (1, 2, 1, 4.0, 0, 0, 10.0)]  # neutral (score 1.2)
    return prepare(_dataset(users, content, inter), LabelConfig(), SplitConfig(), 0)


def _random_prep(seed: int = 0, n_users: int = 40, n_items: int = 60, n_inter: int = 500, cold: int = 2):
    """A random world; the last ``cold`` users have no interactions."""
    rng = np.random.default_rng(seed)
    regions = np.array(["NA", "EU", "AS"])
    users = [(regions[rng.integers(3)], *np.round(rng.random(3), 2), "pub1" if rng.random() < 0.2 else "")
             for _ in range(n_users)]
    topics = np.array(["politics", "technology", "sports", "business"])
    content = [(f"pub{rng.integers(5)}", topics[rng.integers(4)],
                "ALL" if rng.random() < 0.8 else regions[rng.integers(3)], rng.random()) for _ in range(n_items)]
    inter = [(rng.integers(n_users - cold), rng.integers(n_items), rng.integers(2), rng.random() * 40,
              rng.integers(2), int(rng.random() < 0.1), rng.random() * 20) for _ in range(n_inter)]
    return prepare(_dataset(users, content, inter), LabelConfig(), SplitConfig(), seed)


def test_filters_remove_the_right_pairs_and_count_them():
    prep = _tiny()
    for source in ("topic", "popularity", "cf", "glm", "hybrid"):
        cand = C.CandidateGenerator(CandidateConfig(source=source), 0).fit(prep).generate(prep)
        assert cand.removed == {"region": 5, "blocklist": 7, "seen": 4, "age": 0}
        assert cand.n_eligible.tolist() == [3, 1, 4, 0]
        assert cand.width == 6  # K = default 20, capped at the 6-item catalog
        got = [set(row[row != lists.PAD].tolist()) for row in cand.items]
        assert got == [{2, 4, 5}, {0}, {0, 2, 3, 5}, set()]  # EU-only item 1 never reaches NA user 0
        assert cand.n_empty == 1
        assert (cand.source[3] == -1).all()
        assert np.isnan(cand.scores[3]).all()


def test_age_limit_removes_items_older_than_max_age_at_now():
    base = _tiny()
    users = [tuple(x) for x in zip(["NA", "EU", "AS", "NA"], [0.9, 0.2, 0.5, 0.4], [0.1, 0.8, 0.5, 0.6],
                                   [0.5, 0.3, 0.5, 0.2], ["", "pubB", "", "pubA;pubB; pubC"], strict=True)]
    content = [("pubA", "politics", "ALL", 0.9), ("pubB", "technology", "EU", 0.8),
               ("pubA", "sports", "ALL", 0.3), ("pubB", "politics", "ALL", 0.7),
               ("pubC", "business", "NA", 0.6), ("pubC", "technology", "ALL", 0.5)]
    inter = [(0, 0, 1, 20.0, 1, 0, 10.0), (0, 3, 0, 0.0, 0, 1, 8.0), (1, 5, 1, 20.0, 1, 0, 9.0),
             (1, 2, 1, 4.0, 0, 0, 10.0)]
    # item 2 (sports, ALL) is 9 days old at now, item 5 exactly 7 (kept: the limit is "older than")
    prep = prepare(_dataset(users, content, inter, age_days=[1, 1, 9, 1, 1, 7]), LabelConfig(), SplitConfig(), 0)
    assert prep.now_s == base.now_s == base.t_serve_s  # no world spec: the last event
    mask, removed = prep.eligible(np.arange(4), CandidateConfig())
    # without the age rule: eligible [2,4,5], [0], [0,2,3,5], [] (see the filter test); item 2 goes
    assert [np.flatnonzero(r).tolist() for r in mask] == [[4, 5], [0], [0, 3, 5], []]
    assert removed == {"region": 5, "blocklist": 7, "seen": 4, "age": 2}
    no_limit, removed = prep.eligible(np.arange(4), CandidateConfig(max_age_days=0))
    assert removed["age"] == 0
    assert no_limit.sum() == 8


def test_topic_source_reproduces_the_notebook_ordering():
    prep = _tiny()
    gen = C.CandidateGenerator(CandidateConfig(source="topic", k=6, **NO_FILTERS), 0).fit(prep)
    cand = gen.generate(prep)
    users, content = prep.dataset.users, prep.dataset.content

    def naive_topic_score(user_row, content_row):  # the notebook's function, verbatim in spirit
        topic = content_row["topic"]
        if topic == "politics":
            return user_row["topic_affinity_politics"]
        if topic == "technology":
            return user_row["topic_affinity_tech"]
        if topic == "sports":
            return user_row["topic_affinity_sports"]
        return 0.0

    for u in range(len(users)):
        scores = [(j, naive_topic_score(users.iloc[u], content.iloc[j])) for j in range(len(content))]
        scores.sort(key=lambda x: x[1], reverse=True)  # stable: ties keep content order
        assert cand.items[u].tolist() == [j for j, _ in scores]


def test_topic_source_on_the_seed_tables(seed_dir):
    data = pytest.importorskip("ranking.data")
    prep = prepare(data.load_dataset(seed_dir), LabelConfig(), SplitConfig(), 0)
    cand = C.CandidateGenerator(CandidateConfig(source="topic", k=20, **NO_FILTERS), 0).fit(prep).generate(prep)
    users, content = prep.dataset.users, prep.dataset.content
    column = {"politics": "topic_affinity_politics", "technology": "topic_affinity_tech",
              "sports": "topic_affinity_sports"}
    for u in range(0, len(users), 7):
        scores = [(j, float(users.iloc[u][column[t]]) if t in column else 0.0)
                  for j, t in enumerate(content["topic"].astype(str))]
        scores.sort(key=lambda x: x[1], reverse=True)
        assert cand.items[u].tolist() == [j for j, _ in scores[:20]]


def test_popularity_is_decayed_engagement_by_hand():
    prep = _tiny()
    gen = C.CandidateGenerator(CandidateConfig(source="popularity", popularity_half_life_days=3.0), 0).fit(prep)
    s = C.POPULARITY_SMOOTHING
    expected = [1.0 + s, 0.0, s * 1.0, s * 2 ** (-2 / 3), 0.0, (1.0 + s) * 2 ** (-1 / 3)]  # t_ref = day 10
    np.testing.assert_allclose(gen.popularity_, expected, rtol=1e-12)
    cand = gen.generate(prep)
    assert cand.items[2, :4].tolist() == [0, 5, 2, 3]  # user 2 sees everything but the restricted items


def test_cf_recovers_a_rank_one_ordering(monkeypatch):
    rng = np.random.default_rng(3)
    a, b = rng.uniform(0.5, 2.0, 30), rng.uniform(-1.0, 1.0, 40)
    matrix = sp.csr_matrix(np.outer(a, b))
    for dense_max in (10**9, 0):  # exact dense SVD and the seeded ARPACK path
        monkeypatch.setattr(CF, "_DENSE_SVD_MAX", dense_max)
        users, items, s = C._factorise(matrix, 3, seed=0)
        scores = users @ items.T
        np.testing.assert_allclose(scores, np.outer(a, b), atol=1e-9)
        assert s[0] == pytest.approx(np.linalg.norm(a) * np.linalg.norm(b))
        assert np.allclose(s[1:], 0)
        for u in range(len(a)):
            assert np.argsort(-scores[u], kind="stable").tolist() == np.argsort(-b, kind="stable").tolist()


def test_cf_engagement_matrix_and_cold_users():
    prep = _tiny()
    gen = C.CandidateGenerator(CandidateConfig(source="cf", cf_factors=4, **NO_FILTERS), 0).fit(prep)
    scores = gen.source_scores(prep, np.arange(4))["cf"]
    # rank 4 ≥ rank of the 2-user matrix: CF reproduces it exactly (+1 positive, +0.25 neutral, −1 hide)
    expected = np.zeros((4, 6))
    expected[0, [0, 3]] = [1.0, -1.0]
    expected[1, [5, 2]] = [1.0, 0.25]
    np.testing.assert_allclose(scores, expected, atol=1e-6)
    assert (gen.user_factors_[2:] == 0).all()  # no history → zero factors → CF score 0


def test_hybrid_quotas_fill_the_right_number_per_source():
    prep = _random_prep()
    for k, expected in ((10, (4, 4, 2)), (7, (3, 3, 1))):
        cfg = CandidateConfig(k=k, filter_seen=False, filter_blocklist=False, filter_region=False,
                              quotas=(("cf", 0.4), ("topic", 0.4), ("popularity", 0.2)))
        gen = C.CandidateGenerator(cfg, 0).fit(prep)
        cand = gen.generate(prep)
        warm = np.abs(gen.user_factors_).sum(axis=1) > 0
        counts = np.stack([(cand.source == s).sum(axis=1) for s in range(3)], axis=1)  # topic, pop, cf
        np.testing.assert_array_equal(counts[warm], np.tile([expected[1], expected[2], expected[0]], (warm.sum(), 1)))
        # cold users: CF has no opinion, its slots go to the blend (attributed to the top contributor)
        assert (counts[~warm, 2] == 0).all()
        assert (counts[~warm].sum(axis=1) == k).all()
        # the CF slots hold CF's own best items; a quota slot's source has the item in its own top K
        raw = gen.source_scores(prep, np.arange(prep.n_users))
        for u in np.nonzero(warm)[0][:10]:
            cf_items = set(cand.items[u][cand.source[u] == 2].tolist())
            assert cf_items == set(lists.top_k(raw["cf"][u:u + 1], expected[0]).items[0].tolist())
        bits = (cand.source_mask >> np.maximum(cand.source, 0).astype(np.uint8)) & 1
        assert (bits[warm] == 1).all()
        assert C.sources_of(5) == ["topic", "cf"]


def test_the_glm_source_proposes_the_glms_best_items_by_value():
    prep = _random_prep(2)
    cfg = CandidateConfig(k=8, quotas=(("glm", 1.0),), filter_seen=False, filter_blocklist=False,
                          filter_region=False, max_age_days=0)
    gen = C.CandidateGenerator(cfg, 0).fit(prep)
    cand = gen.generate(prep)
    value = gen.glm_.value_rows(prep, np.arange(prep.n_users), prep.labels)
    expected = lists.top_k(value, 8)
    np.testing.assert_array_equal(cand.items, expected.items)
    assert (cand.source == C.SOURCE_NAMES.index("glm")).all()
    # a weight move later does not move the candidates: the source keeps the weights it was fitted under
    moved = dataclasses.replace(prep, labels=LabelConfig(w_share=9.0))
    np.testing.assert_array_equal(gen.generate(moved).items, cand.items)


def test_candidates_are_ordered_by_stage1_score_and_determined_by_the_seed():
    prep = _random_prep(1)
    a = C.CandidateGenerator(CandidateConfig(k=12), 7).fit(prep).generate(prep, chunk=9)
    b = C.CandidateGenerator(CandidateConfig(k=12), 7).fit(prep).generate(prep)
    for name in ("items", "scores", "source", "source_mask", "n_eligible"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    again = lists.order_rows(a.items, a.scores)
    np.testing.assert_array_equal(again.items, a.items)


@pytest.mark.parametrize("source", ["hybrid", "topic", "cf", "popularity"])
def test_score_pairs_agree_with_generate_and_with_brute_force(source):
    prep = _random_prep(2)
    gen = C.CandidateGenerator(CandidateConfig(source=source, k=15), 0).fit(prep)
    cand = gen.generate(prep, chunk=16)
    users = np.arange(prep.n_users)
    stage1 = gen.blend(prep, users)
    eligible, _ = prep.eligible(users, gen.config)
    # every candidate, plus every training pair (ineligible: already seen)
    r, c = np.nonzero(cand.items != lists.PAD)
    u = np.concatenate([r, prep.train["user_pos"].to_numpy()])
    i = np.concatenate([cand.items[r, c], prep.train["item_pos"].to_numpy()])
    got = gen.score_pairs(prep, u, i, chunk=5)
    np.testing.assert_array_equal(got["stage1_score"][:len(r)], cand.scores[r, c])
    np.testing.assert_array_equal(got["stage1_score"], stage1[u, i])
    expected_rank = 1 + (eligible[u] & (stage1[u] > stage1[u, i][:, None])).sum(axis=1)
    np.testing.assert_array_equal(got["stage1_rank"], expected_rank)
    if source != "hybrid":  # a single source's list is its stage-1 order: rank ≤ position (ties share)
        assert (got["stage1_rank"][:len(r)] <= c + 1).all()
    raw = gen.source_scores(prep, users)
    for name in C.SOURCE_NAMES:
        np.testing.assert_array_equal(got[name], raw[name][u, i])


def test_hybrid_blend_is_the_weighted_z_score():
    prep = _random_prep(3)
    gen = C.CandidateGenerator(CandidateConfig(quotas=(("cf", 0.5), ("topic", 0.3), ("popularity", 0.2))), 0)
    gen.fit(prep)
    users = np.arange(prep.n_users)
    raw = gen.source_scores(prep, users)
    expected = np.zeros((len(users), prep.n_items))
    for name, w in (("cf", 0.5), ("topic", 0.3), ("popularity", 0.2)):
        x = raw[name].astype(np.float64)
        std = x.std(axis=1, keepdims=True)
        expected += w * np.divide(x - x.mean(axis=1, keepdims=True), std, out=np.zeros_like(x), where=std > 0)
    np.testing.assert_allclose(gen.blend(prep, users), expected, atol=2e-5)


def test_k_larger_than_catalog_and_unfitted_use():
    prep = _tiny()
    gen = C.CandidateGenerator(CandidateConfig(source="topic", k=500), 0)
    with pytest.raises(TrainingError):
        gen.generate(prep)
    cand = gen.fit(prep).generate(prep)
    assert cand.items.shape == (4, 6)


def _reference_top_k(scores: np.ndarray, k: int, valid: np.ndarray) -> np.ndarray:
    """Row by row in plain Python: valid entries by (score descending, position ascending), PAD-filled."""
    out = np.full((len(scores), min(k, scores.shape[1])), lists.PAD)
    for r, row in enumerate(scores):
        best = sorted((c for c in range(len(row)) if valid[r, c] and not np.isnan(row[c])),
                      key=lambda c, row=row: (-float(row[c]), c))[: out.shape[1]]
        out[r, : len(best)] = best
    return out


def test_the_one_top_k_and_its_tie_rule_match_a_plain_sort():
    rng = np.random.default_rng(5)
    for trial in range(20):
        n, m, k = 30, int(rng.integers(1, 80)), int(rng.integers(1, 40))
        scores = rng.integers(-2, 3, (n, m)).astype(np.float32)  # many ties, also at the cut
        if trial % 2:
            scores = scores * rng.random((n, m)).astype(np.float32)
        scores[0, : m // 2] = -0.0  # −0.0 ties with +0.0
        scores[2, ::3] = np.nan
        valid = rng.random((n, m)) < 0.7
        valid[1] = False
        expected = _reference_top_k(scores, k, valid)
        got = lists.top_k(scores, k, valid)
        np.testing.assert_array_equal(got.items, expected)
        # order_rows sorts a shuffled list back with the same rule
        shuffled = rng.permuted(got.items, axis=1)
        pos = np.maximum(shuffled, 0)
        again = lists.order_rows(shuffled, np.where(shuffled == lists.PAD, np.nan, scores[np.arange(n)[:, None], pos]))
        np.testing.assert_array_equal(again.items, expected)
        # stage 1's user-independent sources take each row's first valid items along one global order
        order = np.lexsort((np.arange(m), -scores[3]))
        np.testing.assert_array_equal(C._first_valid(order, valid, k),
                                      _reference_top_k(np.broadcast_to(scores[3], (n, m)), k, valid))


def _truth_recall(prep, cand, top: int = 10) -> float:
    """Share of each user's true best eligible items that made the candidate list."""
    users = np.arange(prep.n_users)
    eligible, _ = prep.eligible(users, CandidateConfig())
    best = lists.top_k(prep.dataset.truth.rows(users), top, eligible).items
    hit = (best[:, :, None] == cand.items[:, None, :]).any(axis=2) & (best != lists.PAD)
    return float(hit.sum() / (best != lists.PAD).sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hybrid_finds_more_truly_relevant_items_than_popularity(seed):
    synth = pytest.importorskip("ranking.data.synth")
    pytest.importorskip("ranking.data")
    # 400 items: with the 7-day age limit about 80 are eligible per user, twice K = 40 (with 120 items
    # only ~25 were, about K, so every source listed nearly all of them)
    world = synth.generate(synth.WorldSpec(n_users=300, n_items=400, n_interactions=6000, seed=seed))
    prep = prepare(world.to_dataset(), LabelConfig(), SplitConfig(), seed)
    recall = {source: _truth_recall(prep, C.CandidateGenerator(CandidateConfig(source=source), seed)
                                    .fit(prep).generate(prep)) for source in ("hybrid", "popularity")}
    assert recall["hybrid"] > recall["popularity"] + 0.05, recall
