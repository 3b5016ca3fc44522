"""Stage 3 (Keras re-ranker): lazy TF import, learning planted signals, determinism, batching, pickling."""

from __future__ import annotations

import pickle
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from ranking.config import NeuralConfig
from ranking.errors import TrainingError
from ranking.stages.neural import NeuralReranker

ROOT = Path(__file__).resolve().parents[1]
TINY = NeuralConfig(hidden=(16,), dropout=0.1, id_embeddings=False, use_stage2_score=False,
                    epochs=4, batch_size=64, learning_rate=1e-2)
N_USERS, N_ITEMS = 30, 20


def _table(n: int = 1200, seed: int = 0) -> dict[str, np.ndarray]:
    """Rows whose label is driven by feature 0 only (plus a little noise)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    y = (X[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(np.int8)
    return {"X": X, "y": y, "user_pos": rng.integers(0, N_USERS, n), "item_pos": rng.integers(0, N_ITEMS, n)}


def _fit(cfg: NeuralConfig = TINY, seed: int = 0, **data) -> NeuralReranker:
    return NeuralReranker(cfg, seed=seed).fit(n_users=N_USERS, n_items=N_ITEMS, **data)


@pytest.fixture(scope="module")
def planted() -> tuple[NeuralReranker, dict[str, np.ndarray]]:
    data = _table()
    train = {k: v[:1000] for k, v in data.items()}
    return _fit(**train), {k: v[1000:] for k, v in data.items()}


def test_import_does_not_load_tensorflow():
    code = ("import sys, ranking.stages.neural; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported eagerly'")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": ""}, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def test_training_and_serving_trace_without_autograph_warnings():
    """A traced function that called ``_tf()`` made AutoGraph try to convert ``os.environ.setdefault`` and log a
    warning in every training worker's output."""
    import io
    import logging

    import tensorflow as tf

    log = io.StringIO()
    handler = logging.StreamHandler(log)
    tf.get_logger().addHandler(handler)
    try:
        data = _table(400, seed=3)
        model = _fit(replace(TINY, epochs=2), **data)
        model.predict(data["X"][:50], user_pos=data["user_pos"][:50], item_pos=data["item_pos"][:50])
    finally:
        tf.get_logger().removeHandler(handler)
    assert "AutoGraph could not transform" not in log.getvalue(), log.getvalue()[:500]


def test_learns_planted_feature(planted):
    model, test = planted
    p = model.predict(test["X"], user_pos=test["user_pos"], item_pos=test["item_pos"])
    assert p.dtype == np.float32
    assert p.shape == (200,)
    assert ((p > 0) & (p < 1)).all()
    assert roc_auc_score(test["y"], p) > 0.8


def test_id_embeddings_learn_user_item_identity():
    # y depends only on who meets what (a rank-2 taste); the features are pure noise
    rng = np.random.default_rng(1)
    n_users, n_items = 60, 40
    taste, traits = rng.normal(size=(n_users, 2)), rng.normal(size=(n_items, 2))
    pairs = rng.permutation(n_users * n_items)
    users, items = pairs // n_items, pairs % n_items
    data = {"X": rng.normal(size=(len(pairs), 3)).astype(np.float32),
            "y": ((taste[users] * traits[items]).sum(axis=1) > 0).astype(np.int8),
            "user_pos": users, "item_pos": items}
    train = np.arange(len(pairs)) < 1900  # held-out rows are unseen pairs of seen users and items
    cfg = NeuralConfig(hidden=(32,), dropout=0.0, id_embeddings=True, use_stage2_score=False,
                       epochs=5, batch_size=64, learning_rate=1e-2)
    auc = {}
    for ids in (True, False):
        model = NeuralReranker(replace(cfg, id_embeddings=ids), seed=0).fit(
            **{k: v[train] for k, v in data.items()}, n_users=n_users, n_items=n_items)
        p = model.predict(data["X"][~train], user_pos=users[~train], item_pos=items[~train])
        auc[ids] = roc_auc_score(data["y"][~train], p)
    assert auc[False] < 0.65
    assert auc[True] > 0.85


def test_same_seed_gives_identical_predictions(planted):
    model, test = planted
    data = _table()
    again = _fit(**{k: v[:1000] for k, v in data.items()})
    args = {"user_pos": test["user_pos"], "item_pos": test["item_pos"]}
    np.testing.assert_array_equal(again.predict(test["X"], **args), model.predict(test["X"], **args))
    assert again.history_ == model.history_
    other = _fit(seed=1, **{k: v[:1000] for k, v in data.items()})
    assert not np.array_equal(other.predict(test["X"], **args), model.predict(test["X"], **args))


def test_progress_once_per_epoch_and_early_stopping_restores_best():
    data = _table(seed=2)
    valid = np.isin(data["user_pos"], [0, 1, 2, 3, 4, 5])  # validation split by user
    calls: list[tuple[int, dict[str, float]]] = []
    model = _fit(replace(TINY, epochs=6), **data, is_valid=valid,
                 progress=lambda epoch, logs: calls.append((epoch, logs)))
    run = len(model.history_["loss"])
    assert [e for e, _ in calls] == list(range(run))  # 0-based, like Keras and stage 2's XGBoost
    assert all(np.isfinite(logs["loss"]) and np.isfinite(logs["val_loss"]) for _, logs in calls)
    assert [logs["val_loss"] for _, logs in calls] == pytest.approx(model.history_["val_loss"])
    # the kept weights are the best epoch's: their validation log-loss is the history's minimum
    p = model.predict(data["X"][valid], user_pos=data["user_pos"][valid], item_pos=data["item_pos"][valid])
    assert log_loss(data["y"][valid], p) == pytest.approx(min(model.history_["val_loss"]), rel=1e-3)
    assert model.best_epoch_ == int(np.argmin(model.history_["val_loss"])) + 1


def test_progress_without_validation_reports_nan_val():
    calls = []
    _fit(**_table(300), progress=lambda epoch, logs: calls.append(logs))
    assert len(calls) == TINY.epochs
    assert np.isfinite(calls[-1]["loss"])
    assert np.isnan(calls[-1]["val_loss"])


def test_missing_values_are_imputed_and_their_indicator_learned():
    rng = np.random.default_rng(3)
    data = _table(1200, seed=3)
    X = data["X"].copy()
    X[:, 1] = np.nan  # a column that is never observed
    gone = rng.random(len(X)) < 0.4
    X[gone, 2] = np.nan
    y = gone.astype(np.int8)  # the label is "feature 2 is missing"
    model = _fit(**{**data, "X": X, "y": y})
    assert model.scaler_["missing"].tolist() == [1, 2]
    assert np.isfinite(model.scaler_["median"]).all()
    p = model.predict(X, user_pos=data["user_pos"], item_pos=data["item_pos"])
    assert np.isfinite(p).all()
    assert roc_auc_score(y, p) > 0.95
    X_new = np.full((3, 4), np.nan, np.float32)  # NaN even where training saw none
    assert np.isfinite(model.predict(X_new, user_pos=[0, 1, 2], item_pos=[0, 1, 2])).all()


def test_stage2_score_is_used_when_configured():
    data = _table(1200, seed=4)
    rng = np.random.default_rng(4)
    score = rng.normal(size=1200).astype(np.float32)
    y = (score > 0).astype(np.int8)  # only the stage-2 score carries the label
    cfg = replace(TINY, use_stage2_score=True)
    model = _fit(cfg, **{**data, "y": y}, stage2_score=score)
    p = model.predict(data["X"], user_pos=data["user_pos"], item_pos=data["item_pos"], stage2_score=score)
    assert roc_auc_score(y, p) > 0.95
    with pytest.raises(ValueError, match="stage2_score"):
        model.predict(data["X"], user_pos=data["user_pos"], item_pos=data["item_pos"])
    with pytest.raises(ValueError, match="stage2_score"):
        _fit(cfg, **data)


@pytest.mark.parametrize(("y", "valid", "message"), [
    (np.zeros(50, np.int8), None, "every training label is 0"),
    (np.r_[np.zeros(25), np.ones(25)].astype(np.int8), np.ones(50, bool), "no training rows"),
    (np.r_[np.zeros(25), np.ones(25)].astype(np.int8), np.arange(50) < 25, "every training label is 1"),
])
def test_impossible_data_raises_training_error(y, valid, message):
    data = {**_table(50), "y": y}
    with pytest.raises(TrainingError, match=message):
        _fit(**data, is_valid=valid)


def test_empty_table_raises_training_error():
    empty = {"X": np.empty((0, 4), np.float32), "y": np.empty(0, np.int8),
             "user_pos": np.empty(0, np.int64), "item_pos": np.empty(0, np.int64)}
    with pytest.raises(TrainingError, match="no training rows"):
        _fit(**empty)


def test_predict_is_one_batched_call(planted):
    model, _ = planted
    data = _table(1000, seed=5)
    args = {"user_pos": data["user_pos"], "item_pos": data["item_pos"]}
    with mock.patch.object(NeuralReranker, "_forward", autospec=True,
                           side_effect=NeuralReranker._forward) as forward:
        p = model.predict(data["X"], **args)
    assert forward.call_count == 1
    assert forward.call_args.args[1]["features"].shape[0] == 1000
    reference = model.model_.predict(model._inputs(data["X"], args["user_pos"], args["item_pos"], None),
                                     batch_size=1000, verbose=0).ravel()
    np.testing.assert_allclose(p, reference, atol=1e-6)
    few = model.predict(data["X"][:50], user_pos=args["user_pos"][:50], item_pos=args["item_pos"][:50])
    np.testing.assert_allclose(few, p[:50], atol=1e-6)  # a user's 50 rows score as in the big batch
    assert model.predict(data["X"][:0], user_pos=args["user_pos"][:0], item_pos=args["item_pos"][:0]).shape == (0,)


def test_unseen_ids_share_the_unknown_embedding():
    data = _table(800, seed=6)
    valid = data["user_pos"] < 5  # users 0-4 only appear in validation rows
    model = _fit(replace(TINY, id_embeddings=True), **data, is_valid=valid)
    X = np.repeat(data["X"][:1], 4, axis=0)
    p = model.predict(X, user_pos=[0, 4, N_USERS, -1], item_pos=[3, 3, 3, 3])
    assert np.unique(p).size == 1  # validation-only, past-the-end and negative users all map to "unknown"


def test_pickle_round_trip_keeps_predictions():
    data = _table(600, seed=7)
    cfg = replace(TINY, id_embeddings=True, use_stage2_score=True)
    score = data["X"][:, 0] + 0.1
    model = _fit(cfg, **data, stage2_score=score, feature_names=["a", "b", "c", "d"])
    args = {"user_pos": data["user_pos"], "item_pos": data["item_pos"], "stage2_score": score}
    before = model.predict(data["X"], **args)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(data["X"], **args), before)
    assert restored.feature_names_ == ("a", "b", "c", "d")
    assert restored.history_ == model.history_


def test_unfitted_predict_raises():
    with pytest.raises(TrainingError, match="not fitted"):
        NeuralReranker(TINY).predict(np.zeros((1, 4)), user_pos=[0], item_pos=[0])
