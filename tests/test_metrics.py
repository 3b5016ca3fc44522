"""Metric kernels against hand computations and against sklearn / scipy where those define the metric."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.stats import kendalltau
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, dcg_score, ndcg_score, roc_auc_score
from sklearn.metrics import log_loss as sk_log_loss

from ranking.evaluation import metrics as M

NAN = np.nan


def _descending(n: int) -> np.ndarray:
    """Scores that rank column 0 first with no ties (sklearn averages over tied scores)."""
    return np.arange(n, 0, -1, dtype=np.float64)


# --- DCG / NDCG ---------------------------------------------------------------------------

def test_dcg_by_hand():
    gains = np.array([[1.0, 0.0, 1.0], [2.0, 1.0, 0.0]])
    expected = [1 / math.log2(2) + 1 / math.log2(4), 3 / math.log2(2) + 1 / math.log2(3)]
    np.testing.assert_allclose(M.dcg(gains, 3), expected)
    np.testing.assert_allclose(M.dcg(gains, 3, form="linear")[1], 2 + 1 / math.log2(3))


def test_ndcg_by_hand_with_separate_ideal():
    gains = np.array([[1.0, 0.0, 1.0, 0.0]])
    ideal = np.array([[1.0, 1.0, NAN]])  # the user's two held-out positives
    expected = (1 / math.log2(2) + 1 / math.log2(4)) / (1 / math.log2(2) + 1 / math.log2(3))
    np.testing.assert_allclose(M.ndcg(gains, ideal, 4), [expected])


def test_ndcg_ideal_counts_relevant_items_outside_the_list():
    gains = np.array([[0.0, 1.0]])
    ideal = np.array([[1.0, 1.0, 1.0]])
    expected = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    np.testing.assert_allclose(M.ndcg(gains, ideal, 2), [expected])


@pytest.mark.parametrize("k", [1, 3, 5, 8])
def test_dcg_and_ndcg_match_sklearn_linear(k):
    rng = np.random.default_rng(k)
    gains = rng.integers(0, 4, size=(20, 8)).astype(np.float64)
    gains[0] = 0  # no relevant item: sklearn says 0, we exclude the user (NaN)
    score = np.tile(_descending(8), (20, 1))
    ours = M.ndcg(gains, gains, k, form="linear")
    assert np.isnan(ours[0])
    for u in range(1, 20):
        assert ours[u] == pytest.approx(ndcg_score(gains[u:u + 1], score[u:u + 1], k=k))
        assert M.dcg(gains[u:u + 1], k, form="linear")[0] == pytest.approx(
            dcg_score(gains[u:u + 1], score[u:u + 1], k=k))


def test_exponential_gain_equals_sklearn_on_transformed_labels():
    rng = np.random.default_rng(3)
    gains = rng.integers(0, 4, size=(10, 6)).astype(np.float64)
    gains[:, 0] = 1  # every user has something relevant
    score = np.tile(_descending(6), (10, 1))
    expected = [ndcg_score(2 ** gains[u:u + 1] - 1, score[u:u + 1], k=4) for u in range(10)]
    np.testing.assert_allclose(M.ndcg(gains, gains, 4, form="exp"), expected)


def test_padding_does_not_change_ranking_metrics():
    gains = np.array([[1.0, 0.0, 1.0]])
    padded = np.array([[1.0, 0.0, 1.0, NAN, NAN]])
    ideal = np.array([[1.0, 1.0, 1.0]])
    n_rel = np.array([3])
    for fn in (M.precision, M.recall, M.average_precision, M.reciprocal_rank, M.hit_rate):
        np.testing.assert_allclose(fn(padded, 5, n_rel), fn(gains, 5, n_rel))
    np.testing.assert_allclose(M.ndcg(padded, ideal, 5), M.ndcg(gains, ideal, 5))


def test_empty_lists_score_zero_for_users_with_relevant_items():
    empty = np.zeros((2, 0))
    n_rel = np.array([1, 0])
    for fn in (M.precision, M.recall, M.average_precision, M.reciprocal_rank, M.hit_rate):
        np.testing.assert_allclose(fn(empty, 3, n_rel), [0.0, NAN])
    np.testing.assert_allclose(M.ndcg(empty, np.ones((2, 1)), 3), [0.0, 0.0])
    np.testing.assert_allclose(M.kendall_tau(empty, empty), [NAN, NAN])


def test_unknown_gain_form():
    with pytest.raises(ValueError, match="valid: exp, linear"):
        M.dcg(np.ones((1, 2)), 2, form="log")


# --- binary-relevance list metrics --------------------------------------------------------

def test_precision_recall_hit_by_hand():
    gains = np.array([[0.0, 1.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    n_rel = np.array([3, 2, 0])
    np.testing.assert_allclose(M.precision(gains, 2, n_rel), [1 / 2, 0.0, NAN])
    np.testing.assert_allclose(M.recall(gains, 4, n_rel), [2 / 3, 0.0, NAN])
    np.testing.assert_allclose(M.recall(gains, None, n_rel), [2 / 3, 0.0, NAN])
    np.testing.assert_allclose(M.hit_rate(gains, 1, n_rel), [0.0, 0.0, NAN])
    np.testing.assert_allclose(M.hit_rate(gains, 2, n_rel), [1.0, 0.0, NAN])


def test_precision_divides_by_k_for_short_lists():
    gains = np.array([[1.0, NAN, NAN]])
    assert M.precision(gains, 3, np.array([1]))[0] == pytest.approx(1 / 3)


def test_average_precision_by_hand():
    gains = np.array([[1.0, 0.0, 1.0, 0.0, 0.0], [0.0, 1.0, 1.0, NAN, NAN]])
    # user 0: hits at ranks 1 and 3 of 2 relevant; user 1: hits at 2 and 3 of 5 relevant
    ap = M.average_precision(gains, 5, np.array([2, 5]))
    assert ap[0] == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert ap[1] == pytest.approx((1 / 2 + 2 / 3) / 5)  # min(k=5, 5 relevant)
    ap3 = M.average_precision(gains, 3, np.array([2, 5]))
    assert ap3[1] == pytest.approx((1 / 2 + 2 / 3) / 3)
    # a perfect top-k scores 1 even when the user has more than k positives
    assert M.average_precision(np.ones((1, 3)), 3, np.array([10]))[0] == pytest.approx(1.0)


def test_average_precision_matches_sklearn_when_the_list_holds_every_positive():
    rng = np.random.default_rng(5)
    gains = (rng.random((15, 12)) < 0.3).astype(np.float64)
    gains[:, 4] = 1
    n_rel = gains.sum(axis=1)
    ours = M.average_precision(gains, 12, n_rel)
    for u in range(15):
        assert ours[u] == pytest.approx(average_precision_score(gains[u], _descending(12)))


def test_reciprocal_rank_by_hand():
    gains = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0] * 4])
    n_rel = np.array([2, 1, 1, 0])
    np.testing.assert_allclose(M.reciprocal_rank(gains, 4, n_rel), [1 / 3, 0.0, 1.0, NAN])
    np.testing.assert_allclose(M.reciprocal_rank(gains, 2, n_rel), [0.0, 0.0, 1.0, NAN])


def test_mean_reports_count_and_is_quiet_on_all_nan():
    assert M.mean(np.array([1.0, NAN, 0.0])) == (0.5, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, n = M.mean(np.array([NAN, NAN]))
    assert math.isnan(value)
    assert n == 0


# --- classification -----------------------------------------------------------------------

def test_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.random(300) + 0.3 * y, 1)  # rounding makes many ties
    assert M.auc(y, s) == pytest.approx(roc_auc_score(y, s))


def test_auc_single_class_is_nan():
    assert math.isnan(M.auc(np.ones(5), np.arange(5.0)))


def test_log_loss_matches_sklearn_and_clips():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    p = rng.uniform(0.01, 0.99, 200)
    assert M.log_loss(y, p) == pytest.approx(sk_log_loss(y, p))
    assert M.log_loss(np.array([1]), np.array([0.0])) == pytest.approx(-math.log(M.LOGLOSS_EPS))


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_calibration_matches_sklearn(strategy):
    rng = np.random.default_rng(2)
    p = rng.beta(2, 5, 500)
    y = (rng.random(500) < p).astype(int)
    p[:3] = [0.1, 0.2, 0.5]  # values on bin edges go to the lower bin in both
    table = M.calibration(y, p, n_bins=10, strategy=strategy)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy=strategy)
    np.testing.assert_allclose(table["observed_rate"], prob_true)
    np.testing.assert_allclose(table["mean_predicted"], prob_pred)
    assert table["count"].sum() == 500


def test_ece_by_hand():
    y = np.array([0, 1, 1, 1])
    p = np.array([0.05, 0.05, 0.95, 0.95])  # bins: {0.05, 0.05} observed 0.5; {0.95, 0.95} observed 1
    assert M.ece(y, p) == pytest.approx(0.5 * abs(0.5 - 0.05) + 0.5 * abs(1 - 0.95))


# --- agreement, diversity, coverage -------------------------------------------------------

def test_kendall_tau_matches_scipy_tau_b_with_ties_and_padding():
    rng = np.random.default_rng(4)
    x = rng.integers(0, 5, (40, 9)).astype(np.float64)
    y = x + rng.integers(-2, 3, (40, 9))
    x[rng.random((40, 9)) < 0.2] = NAN
    y[rng.random((40, 9)) < 0.2] = NAN
    ours = M.kendall_tau(x, y)
    for u in range(40):
        ok = ~(np.isnan(x[u]) | np.isnan(y[u]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy warns on constant input and returns NaN
            expected = kendalltau(x[u, ok], y[u, ok], variant="b").statistic
        if np.isnan(expected):
            assert np.isnan(ours[u])
        else:
            assert ours[u] == pytest.approx(expected)


def test_kendall_tau_extremes_and_too_few_items():
    x = np.array([[0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0], [0.0, NAN, NAN, NAN]])
    y = np.array([[0.0, 1.0, 2.0, 3.0], [3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0]])
    np.testing.assert_allclose(M.kendall_tau(x, y), [1.0, -1.0, NAN])


def test_diversity_gini_simpson_by_hand():
    topics = np.array([[0, 0, 1, 1], [2, 2, 2, -1], [-1, -1, -1, -1], [0, 1, 2, 3]])
    np.testing.assert_allclose(M.diversity(topics), [0.5, 0.0, NAN, 0.75])
    np.testing.assert_allclose(M.diversity(topics, k=2)[[0, 3]], [0.0, 0.5])


def test_coverage_by_hand():
    items = np.array([[0, 1, 5], [1, 2, -1], [-1, -1, -1]])
    assert M.coverage(items, 10) == pytest.approx(4 / 10)
    assert M.coverage(items, 10, k=1) == pytest.approx(2 / 10)


# --- registry -----------------------------------------------------------------------------

def test_compute_by_name_parses_the_cut_off():
    gains = np.array([[1.0, 0.0, 1.0]])
    np.testing.assert_allclose(M.compute("ndcg@2", gains, gains), M.ndcg(gains, gains, 2))
    np.testing.assert_allclose(M.compute("map@3", gains, n_relevant=np.array([2])), [(1 + 2 / 3) / 2])
    assert M.compute("auc", np.array([0, 1]), np.array([0.2, 0.7])) == 1.0


def test_unknown_metric_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown metric 'ndgc@10'; valid: .*ndcg.*") as exc:
        M.compute("ndgc@10", np.zeros((1, 1)), np.zeros((1, 1)))
    for name in M.METRICS:
        assert name in str(exc.value)
    with pytest.raises(ValueError, match="bad cut-off"):
        M.compute("ndcg@ten", np.zeros((1, 1)), np.zeros((1, 1)))
