"""Beyond-accuracy metrics: hand-made lists checked against plain loops, SciPy's entropy and hand arithmetic."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import entropy

from ranking import data, names
from ranking.config import LabelConfig, SplitConfig
from ranking.data import schema as S
from ranking.data import store
from ranking.data.dataset import Dataset
from ranking.evaluation import beyond as BA
from ranking.evaluation.baselines import item_popularity
from ranking.prep.lists import PAD
from ranking.prep.split import prepare

ITEMS = np.array([[0, 1, 2, 3], [2, 2, PAD, PAD], [4, PAD, PAD, PAD], [PAD, PAD, PAD, PAD]])
TOPIC = np.array([0, 0, 1, 2, 1])
PUBLISHER = np.array([0, 1, 0, 0, 1])


def test_novelty_is_mean_self_information_with_add_one_smoothing():
    popularity = np.array([0.5, 0.0, 0.25, 1.0, 0.75])  # share of 4 users → counts 2, 0, 1, 4, 3
    p = {i: (c + 1) / 5 for i, c in enumerate([2, 0, 1, 4, 3])}
    got = BA.novelty(ITEMS, popularity, n_users=4)
    assert got[0] == pytest.approx(np.mean([-math.log2(p[i]) for i in (0, 1, 2, 3)]))
    assert got[1] == pytest.approx(-math.log2(p[2]))
    assert got[2] == pytest.approx(-math.log2(p[4]))
    assert np.isnan(got[3])


def test_intra_list_diversity_matches_a_loop_over_pairs():
    got = BA.intra_list_diversity(ITEMS, TOPIC, PUBLISHER)
    for row, value in zip(ITEMS, got, strict=True):
        listed = [i for i in row if i != PAD]
        pairs = list(itertools.combinations(listed, 2))
        if not pairs:
            assert np.isnan(value)
            continue
        d = [0.5 * (TOPIC[a] != TOPIC[b]) + 0.5 * (PUBLISHER[a] != PUBLISHER[b]) for a, b in pairs]
        assert value == pytest.approx(np.mean(d))
    assert got[1] == 0.0  # the same item twice: identical in both respects


def test_topic_calibration_is_steck_kl_with_smoothing_against_scipy():
    history = np.array([[3.0, 1.0, 0.0], [0.0, 0.0, 2.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    got = BA.topic_calibration_kl(ITEMS, history, TOPIC, alpha=0.01)
    for u in range(3):
        listed = [i for i in ITEMS[u] if i != PAD]
        q = np.bincount(TOPIC[listed], minlength=3) / len(listed)
        p = history[u] / history[u].sum()
        assert got[u] == pytest.approx(entropy(p, 0.99 * q + 0.01 * p))
    assert np.isnan(got[3])  # empty list
    # user 1's history is all topic 2 while the feed has none: only α·p keeps the divergence finite
    assert got[1] == pytest.approx(math.log(1 / 0.01))
    empty_history = BA.topic_calibration_kl(ITEMS[:1], np.zeros((1, 3)), TOPIC)
    assert np.isnan(empty_history[0])


def test_average_recommended_popularity_and_exposure_gini_by_hand():
    popularity = np.array([0.5, 0.0, 0.25, 1.0, 0.75])
    arp = BA.avg_rec_popularity(ITEMS, popularity)
    assert arp[:3] == pytest.approx([(0.5 + 0 + 0.25 + 1) / 4, 0.25, 0.75])
    assert np.isnan(arp[3])
    # exposures over a 6-item catalogue: item 2 three times, 0, 1, 3, 4 once, item 5 never
    x = np.array([1, 1, 3, 1, 1, 0], dtype=float)
    mean_abs_diff = np.abs(x[:, None] - x[None, :]).sum() / (2 * len(x) ** 2 * x.mean())  # Gini's definition
    assert BA.exposure_gini(ITEMS, 6) == pytest.approx(mean_abs_diff)
    assert BA.exposure_gini(np.array([[0, 1], [1, 0]]), 2) == 0.0
    assert np.isnan(BA.exposure_gini(np.full((2, 2), PAD), 3))


def _tiny_prep():
    users = pd.DataFrame({S.USER_ID: [1, 2, 3], S.DEVICE: ["mobile"] * 3, S.REGION: ["NA"] * 3,
                          S.SESSION: [5.0, 5.0, 5.0], S.BLOCKLIST: ["", "", ""]})
    content = pd.DataFrame({
        S.CONTENT_ID: [101, 102, 103], S.PUBLISHER: ["p1", "p2", "p1"], S.TOPIC: ["politics", "sports", "politics"],
        S.QUALITY: [0.5, 0.5, 0.5], S.RESTRICTION: ["ALL"] * 3,
        S.PUBLISHED: pd.to_datetime(["2025-04-01"] * 3, utc=True)})
    inter = pd.DataFrame({
        S.USER_ID: [1, 1, 1, 2, 2, 3], S.CONTENT_ID: [101, 102, 101, 101, 103, 102],
        S.CLICK: [1, 0, 1, 1, 0, 1], S.DWELL: [0.0] * 6, S.SHARE: [1, 0, 1, 1, 0, 1],
        S.COMMENT: [0] * 6, S.HIDE: [0] * 6,
        S.EVENT_TS: pd.to_datetime("2025-04-02", utc=True) + pd.to_timedelta(range(6), unit="h")})
    ds = Dataset(users=users, content=content, interactions=inter, affinity={})
    return prepare(ds, LabelConfig(), SplitConfig(test_fraction=0.1, min_history=99), seed=0)


def test_topic_history_and_item_popularity_count_positive_training_rows():
    prep = _tiny_prep()
    assert prep.topics == ("politics", "sports")
    # positives (click + 2·share = 3 > 2): u1·101 twice, u2·101, u3·102; u1·102 and u2·103 are not
    assert BA.topic_history(prep).tolist() == [[2.0, 0.0], [1.0, 0.0], [0.0, 1.0]]
    assert item_popularity(prep).tolist() == pytest.approx([2 / 3, 1 / 3, 0.0])  # distinct users / 3


def test_run_carries_beyond_accuracy_under_readable_names(trained_small):
    ev = trained_small.evaluation
    keys = [names.at(b, ev.k) for b in BA.KEYS]
    for metrics in [*ev.stages.values(), *ev.baselines.values()]:
        assert all(key in metrics for key in keys)
        assert all(np.isfinite(metrics[key]) for key in keys)
    doc = json.loads(data.json_bytes(store.metrics_document(ev, trained_small.timing_s, trained_small.config)))
    assert set(keys) <= set(doc["stages"]["final"])
    assert "KL" in names.title(names.at("topic_calibration_kl", 10))
    assert "ECE" not in names.title(names.at("topic_calibration_kl", 10))
    # the final list's novelty recomputed from its items and the training popularity, independently
    prep, items = trained_small.prep, trained_small.post.lists.items[:, :ev.k]
    pop = item_popularity(prep)
    info = [np.mean([-math.log2((pop[i] * prep.n_users + 1) / (prep.n_users + 1)) for i in row if i != PAD])
            for row in items if (row != PAD).any()]
    assert doc["stages"]["final"][names.at("novelty", ev.k)] == pytest.approx(np.mean(info))
