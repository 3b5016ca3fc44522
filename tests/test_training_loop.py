"""Stage 3's training loop parts (ranking.stages.training) against peers: Keras's losses and Adam, sklearn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss, mean_squared_error

from ranking.stages import training as T


@pytest.fixture(scope="module")
def tf():
    import tensorflow

    return tensorflow


def test_losses_match_keras_and_sklearn(tf):
    import keras

    rng = np.random.default_rng(0)
    n = 500
    target = np.column_stack([rng.random(n) < 0.3, rng.exponential(0.5, n), rng.poisson(0.4, n)]).astype(np.float32)
    pred = np.column_stack([rng.uniform(0.01, 0.99, n), rng.exponential(0.5, n),
                            rng.exponential(0.4, n) + 0.01]).astype(np.float32)
    kinds = ("binary_crossentropy", "mse", "poisson")
    expected = (log_loss(target[:, 0], pred[:, 0]) + mean_squared_error(target[:, 1], pred[:, 1])
                + float(np.mean(keras.losses.poisson(target[:, 2:3], pred[:, 2:3]))))
    assert T.np_loss(kinds, target, pred) == pytest.approx(expected, rel=1e-5)
    assert float(T.loss(tf, kinds, tf.constant(target), tf.constant(pred))) == pytest.approx(expected, rel=1e-4)


def test_adam_takes_kerass_steps(tf):
    import keras

    rng = np.random.default_rng(1)
    start = rng.normal(size=(4, 3)).astype(np.float32)
    grads = [rng.normal(size=(4, 3)).astype(np.float32) for _ in range(5)]
    ours, theirs = tf.Variable(start), keras.Variable(start)
    adam = T.Adam(tf, [ours], 0.01)
    reference = keras.optimizers.Adam(0.01)
    for g in grads:
        adam.apply([tf.constant(g)])
        reference.apply([tf.constant(g)], [theirs])
    np.testing.assert_allclose(ours.numpy(), np.asarray(theirs), rtol=1e-5, atol=1e-6)
    assert not np.allclose(ours.numpy(), start)


def test_batches_cover_each_row_once_per_epoch_and_repeat_per_seed():
    inputs = {"features": np.arange(20, dtype=np.float32).reshape(10, 2), "user": np.arange(10, dtype=np.int32)}
    y = np.arange(10, dtype=np.float32).reshape(10, 1)
    rows = np.array([0, 2, 3, 5, 7, 8, 9])

    def epoch(seed):
        return list(T.batches(inputs, y, rows, 3, np.random.default_rng(seed), {}))

    got = epoch(0)
    assert [len(t) for _, t in got] == [3, 3, 1]
    seen = np.concatenate([t.ravel() for _, t in got])
    assert sorted(seen.astype(int)) == rows.tolist()
    for x, t in got:  # rows stay aligned across inputs and targets
        np.testing.assert_array_equal(x["user"], t.ravel().astype(int))
    assert [t.tolist() for _, t in epoch(0)] == [t.tolist() for _, t in got]
    assert [t.tolist() for _, t in epoch(1)] != [t.tolist() for _, t in got]


def test_id_dropout_maps_a_tenth_of_rows_to_the_unknown_row():
    n = 20_000
    inputs = {"user": np.zeros(n, np.int32)}
    x = np.concatenate([b["user"] for b, _ in T.batches(inputs, np.zeros((n, 1), np.float32), np.arange(n), 512,
                                                        np.random.default_rng(0), {"user": 7})])
    assert set(np.unique(x)) == {0, 7}
    assert (x == 7).mean() == pytest.approx(T.ID_DROPOUT, abs=0.01)
