"""Stage 3: a Keras MLP that re-scores stage 2's top N from pair features, stage 2's score and ID embeddings.

Where it sits: after the GBDT has cut each user's candidates to ~50, this model adds what trees
handle poorly: learned user and item embeddings, fed to the MLP both concatenated and as their
dot product (NeuMF, He et al. 2017, "Neural Collaborative Filtering"), stacked on the
out-of-fold stage-2 score. It works on arrays only; stage 2 builds the table.

TensorFlow is imported inside methods, never at import time, so ``import ranking`` stays light.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ranking.config import NeuralConfig
from ranking.errors import TrainingError
from ranking.stages.scaling import apply_scaler, check_table, column, fit_scaler, matrix, positions

EMBEDDING_L2 = 1e-4  # L2 on looked-up embedding rows (Keras divides by batch): frequency-aware decay
PATIENCE = 3  # epochs without a better val_loss before early stopping
ID_DROPOUT = 0.1  # share of training rows whose user (and, independently, item) is shown as "unknown"
CHUNK = 262_144  # rows per forward pass at predict: one call up to this size, bounded memory above
VAL_BATCH = 8192
LOG_KEYS = ("loss", "auc", "val_loss", "val_auc")
# signals mode: one head per signal (ranking.stages.value.SIGNALS order) with the loss that fits it;
# dwell is learnt in minutes so its squared error sits on the scale of the other losses
HEADS = (("p_click", "sigmoid", "binary_crossentropy"), ("e_dwell", "softplus", "mse"),
         ("p_share", "sigmoid", "binary_crossentropy"), ("e_comment", "softplus", "poisson"),
         ("p_hide", "sigmoid", "binary_crossentropy"))
DWELL_SCALE = 60.0

_FIT_LOCK = threading.Lock()

Progress = Callable[[int, dict[str, float]], None]


def _tf() -> tuple[Any, Any]:
    """TensorFlow and Keras, imported on first use."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    return tf, keras


def warm_up() -> None:
    """Import TensorFlow and Keras now (a worker process does this once, before its first job)."""
    _tf()


def reset() -> None:
    """Drop Keras's global graph state between jobs of a long-lived process (never in the app's server)."""
    if "keras" in sys.modules:
        _tf()[1].backend.clear_session()


class NeuralReranker:
    """Engagement model over [dense features, stage-2 output, user/item embeddings].

    With a 1-D ``y`` (binary label) it predicts P(positive). With ``y`` shaped (n, 5) (the logged
    signals, ``ranking.stages.value``) it is a multi-task network: one shared trunk and one head per
    signal (``HEADS``), and ``predict`` returns the (n, 5) signal matrix; the stage-2 input is then
    stage 2's out-of-fold signal predictions (n, 5).

    ``fit`` learns the preprocessing (median impute + missing indicators, standardise, clip) on the
    training rows only and early-stops on the ``is_valid`` rows. IDs never seen in training rows
    (validation users, new items, out-of-range positions) share one "unknown" embedding row, which
    is trained by ID dropout: each batch shows ``ID_DROPOUT`` of its rows with an unknown user/item,
    so cold IDs get a learned "average" rather than an input the MLP never saw.
    """

    def __init__(self, config: NeuralConfig, seed: int = 0):
        self.config = config
        self.seed = seed

    # ------------------------------------------------------------------ training
    def fit(self, X: np.ndarray, y: np.ndarray, *, user_pos: np.ndarray, item_pos: np.ndarray,
            n_users: int, n_items: int, stage2_score: np.ndarray | None = None,
            is_valid: np.ndarray | None = None, feature_names: list[str] | tuple[str, ...] | None = None,
            progress: Progress | None = None) -> NeuralReranker:
        """Train on rows where ``is_valid`` is False; validation rows drive early stopping."""
        cfg = self.config
        if cfg.use_stage2_score and stage2_score is None:
            raise ValueError("config.use_stage2_score is on but no stage2_score was given")
        X, y, users, items, valid = check_table(X, y, user_pos, item_pos, is_valid, n_users, n_items)
        self.signals_ = y.ndim == 2
        if feature_names is not None and len(feature_names) != X.shape[1]:
            raise ValueError(f"{len(feature_names)} feature names for {X.shape[1]} columns")
        train = ~valid
        self.n_features_ = X.shape[1]
        self.feature_names_ = None if feature_names is None else tuple(feature_names)
        self.n_users_, self.n_items_ = int(n_users), int(n_items)
        self.uses_stage2_ = bool(cfg.use_stage2_score)
        s2 = column(stage2_score, len(X)) if self.uses_stage2_ else None
        self.scaler_ = fit_scaler(X[train])
        self.stage2_scaler_ = None if s2 is None else fit_scaler(s2[train])
        self.stage2_width_ = 0 if s2 is None else s2.shape[1]
        self.user_seen_ = np.bincount(users[train], minlength=self.n_users_) > 0
        self.item_seen_ = np.bincount(items[train], minlength=self.n_items_) > 0
        inputs = self._inputs(X, users, items, s2)
        with _FIT_LOCK:  # seeds are process-global: two sessions fitting at once would mix them
            self.model_, history = self._train(inputs, y.astype(np.float32), valid, progress)
        self.history_ = {k: [float(v) for v in vals] for k, vals in history.history.items()}
        val_loss = self.history_.get("val_loss")
        self.best_epoch_ = int(np.argmin(val_loss)) + 1 if val_loss else len(self.history_["loss"])
        self._serve_fn = None
        return self

    def _train(self, inputs: dict[str, np.ndarray], y: np.ndarray, valid: np.ndarray,
               progress: Progress | None) -> tuple[Any, Any]:
        cfg = self.config
        tf, keras = _tf()
        keras.utils.set_random_seed(self.seed)
        tf.config.experimental.enable_op_determinism()  # process-wide; on CPU it costs little
        model = _build_model(keras, cfg, self._width(), self.stage2_width_, self.n_users_, self.n_items_,
                             self.seed, self.signals_)
        if self.signals_:
            y = y.copy()
            y[:, 1] /= DWELL_SCALE
            model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate),
                          loss={name: loss for name, _, loss in HEADS},
                          metrics={"p_click": [keras.metrics.AUC(name="auc")]})
        else:
            model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss="binary_crossentropy",
                          metrics=[keras.metrics.AUC(name="auc")])
        # Adam's slots made inside the first traced step force TF to trace the step twice (~0.3-1 s)
        model.optimizer.build(model.trainable_variables)
        callbacks = [] if progress is None else [_progress_callback(keras, progress)]
        val_data = None
        if valid.any():
            val_data = tf.data.Dataset.from_tensor_slices((_take(inputs, valid), _targets(y[valid]))).batch(VAL_BATCH)
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=PATIENCE, restore_best_weights=True))
        unknown = {"user": self.n_users_, "item": self.n_items_} if cfg.id_embeddings else {}
        batches = _batches(tf, _take(inputs, ~valid), y[~valid], cfg.batch_size, self.seed, unknown)
        history = model.fit(batches, epochs=cfg.epochs, validation_data=val_data, callbacks=callbacks,
                            shuffle=False, verbose=0)  # _batches already reshuffles, seeded
        return model, history

    # ------------------------------------------------------------------ scoring
    def predict(self, X: np.ndarray, *, user_pos: np.ndarray, item_pos: np.ndarray,
                stage2_score: np.ndarray | None = None) -> np.ndarray:
        """P(positive) per row, float32; one forward pass per ``CHUNK`` rows, never per row."""
        if not self.fitted:
            raise TrainingError("NeuralReranker is not fitted: call fit() first")
        X = matrix(X)
        n = len(X)
        if X.shape[1] != self.n_features_:
            raise ValueError(f"X has {X.shape[1]} columns; the model was fitted on {self.n_features_}")
        if self.uses_stage2_ and stage2_score is None:
            raise ValueError("this model was fitted with the stage-2 score; pass stage2_score")
        s2 = column(stage2_score, n) if self.uses_stage2_ else None
        inputs = self._inputs(X, positions(user_pos, n, "user_pos"), positions(item_pos, n, "item_pos"), s2)
        out = np.empty((n, len(HEADS)) if self.signals_ else n, np.float32)
        for start in range(0, n, CHUNK):
            out[start:start + CHUNK] = self._forward({k: v[start:start + CHUNK] for k, v in inputs.items()})
        if self.signals_:
            out[:, 1] *= DWELL_SCALE
        return out

    def _forward(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        # model.predict builds a tf.data pipeline per call (~tens of ms); a traced function with a
        # free batch dimension is traced once per fitted model and then costs well under a ms.
        if self._serve_fn is None:
            tf, _ = _tf()
            spec = {k: tf.TensorSpec((None, *v.shape[1:]), tf.as_dtype(v.dtype), name=k)
                    for k, v in inputs.items()}
            # a partial (no __code__) keys TF's retracing detector per model, not per source line:
            # one trace per fitted model is expected, not a "retracing in a loop" warning
            self._serve_fn = tf.function(functools.partial(_serve, self.model_), input_signature=[spec])
        out = self._serve_fn(inputs)
        if isinstance(out, dict):
            return np.concatenate([out[name].numpy().reshape(-1, 1) for name, _, _ in HEADS], axis=1)
        return out.numpy().ravel()

    # ------------------------------------------------------------------ preprocessing
    def _width(self) -> int:
        return self.n_features_ + len(self.scaler_["missing"])

    def _inputs(self, X: np.ndarray, users: np.ndarray, items: np.ndarray,
                s2: np.ndarray | None) -> dict[str, np.ndarray]:
        inputs = {"features": apply_scaler(X, self.scaler_)}
        if s2 is not None:
            inputs["stage2_score"] = apply_scaler(s2, self.stage2_scaler_)
            if self.__dict__.get("signals_") and s2.shape[1] == len(HEADS):
                inputs["stage2_base"] = _base(s2)
        if self.config.id_embeddings:
            inputs["user"] = _known(users, self.user_seen_)
            inputs["item"] = _known(items, self.item_seen_)
        return inputs

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        # Keras models do not pickle: keep the weights and rebuild the same graph on load.
        state = self.__dict__.copy()
        state.pop("_serve_fn", None)
        model = state.pop("model_", None)
        if model is not None:
            state["_weights"] = model.get_weights()
        return state

    @property
    def fitted(self) -> bool:
        """True once fitted (also after unpickling, before the graph is rebuilt)."""
        return "model_" in self.__dict__ or "_weights" in self.__dict__

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Lazily: unpickling must not import TensorFlow (the app's server never needs to, see
        # pages/session/worker.py); the graph is rebuilt on the first prediction.
        self.__dict__.update(state)
        self._serve_fn = None

    def __getattr__(self, name: str) -> Any:
        if name == "model_" and "_weights" in self.__dict__:
            _, keras = _tf()
            model = _build_model(keras, self.config, self._width(), self.__dict__.get("stage2_width_", 1),
                                 self.n_users_, self.n_items_, 0, self.__dict__.get("signals_", False))
            model.set_weights(self.__dict__.pop("_weights"))
            self.model_ = model
            return model
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def _build_model(keras: Any, cfg: NeuralConfig, width: int, stage2: int, n_users: int, n_items: int,
                 seed: int = 0, signals: bool = False) -> Any:
    """The functional graph; the same arguments always give the same layers (pickling relies on it)."""
    layers = keras.layers
    inputs = {"features": keras.Input((width,), name="features")}
    parts = [inputs["features"]]
    if stage2:
        inputs["stage2_score"] = keras.Input((int(stage2),), name="stage2_score")
        parts.append(inputs["stage2_score"])
    if cfg.id_embeddings:
        embedded = []
        for name, size in (("user", n_users), ("item", n_items)):
            inputs[name] = keras.Input((), dtype="int32", name=name)
            layer = layers.Embedding(size + 1, cfg.embedding_dim, name=f"{name}_embedding",
                                     embeddings_initializer=keras.initializers.RandomUniform(
                                         -0.05, 0.05, seed=seed + (1 if name == "user" else 2)),
                                     activity_regularizer=keras.regularizers.L2(EMBEDDING_L2))
            embedded.append(layer(inputs[name]))
            table = layer.get_weights()[0]
            table[size] = 0.0  # the unknown row starts as "no personal signal"; ID dropout trains it
            layer.set_weights([table])
        parts += [*embedded, layers.Dot(axes=1, name="user_item_dot")(embedded)]
    h = layers.Concatenate(name="concat")(parts) if len(parts) > 1 else parts[0]
    for k, units in enumerate(cfg.hidden):
        # every random part carries its own seed: Streamlit calls keras.backend.clear_session()
        # after each script run, which would otherwise reset the global seed generator mid-fit
        h = layers.Dense(units, activation="relu", name=f"hidden_{k}",
                         kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 10 + k))(h)
        h = layers.Dropout(cfg.dropout, name=f"dropout_{k}", seed=seed + 20 + k)(h)
    if signals and stage2 == len(HEADS):
        # residual heads: each starts at stage 2's prediction (zero-initialised correction) and learns
        # what the embeddings and the trunk add, on the link scale: logit for probabilities, log otherwise
        inputs["stage2_base"] = keras.Input((len(HEADS),), name="stage2_base")
        delta = layers.Dense(len(HEADS), name="correction", kernel_initializer="zeros",
                             bias_initializer="zeros")(h)
        link = layers.Add(name="link")([inputs["stage2_base"], delta])
        out = {name: layers.Activation("sigmoid" if act == "sigmoid" else "exponential", name=name)(
                   link[:, j:j + 1]) for j, (name, act, _) in enumerate(HEADS)}
    elif signals:
        out = {name: layers.Dense(1, activation=act, name=name,
                                  kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 30 + j))(h)
               for j, (name, act, _) in enumerate(HEADS)}
    else:
        out = layers.Dense(1, activation="sigmoid", name="p_positive",
                           kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 30))(h)
    return keras.Model(inputs=inputs, outputs=out, name="neural_reranker")


def _base(s2: np.ndarray) -> np.ndarray:
    """Stage 2's signals on each head's link scale: logit of probabilities, log of dwell (minutes) and comments."""
    out = np.empty_like(s2, dtype=np.float32)
    for j, (_, act, _) in enumerate(HEADS):
        v = np.nan_to_num(s2[:, j].astype(np.float64), nan=0.0)
        if act == "sigmoid":
            p = np.clip(v, 1e-4, 1 - 1e-4)
            out[:, j] = np.log(p / (1 - p))
        else:
            out[:, j] = np.log(np.maximum(v / (DWELL_SCALE if j == 1 else 1.0), 1e-4))
    return out


def _targets(y: np.ndarray) -> Any:
    """The label vector, or one column per head (a dict Keras matches to the outputs by name)."""
    if y.ndim == 1:
        return y
    return {name: y[:, j:j + 1] for j, (name, _, _) in enumerate(HEADS)}


def _serve(model: Any, inputs: dict[str, Any]) -> Any:
    return model(inputs, training=False)


def _progress_callback(keras: Any, progress: Progress) -> Any:
    """A Keras callback calling ``progress(epoch, logs)`` after each epoch.

    ``epoch`` is 0-based (as in Keras and stage 2's XGBoost callback); ``logs`` always holds
    ``LOG_KEYS``, NaN where absent (no validation rows → no ``val_*``).
    """

    class ProgressCallback(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = dict(logs or {})
            for key in ("auc", "val_auc"):  # the multi-task model reports its click head's AUC
                logs.setdefault(key, logs.get(key.replace("auc", "p_click_auc"), np.nan))
            progress(epoch, {k: float(logs.get(k, np.nan)) for k in LOG_KEYS})

    return ProgressCallback()


def _batches(tf: Any, inputs: dict[str, np.ndarray], y: np.ndarray, batch_size: int, seed: int,
             unknown: dict[str, int]) -> Any:
    """Seeded per-epoch reshuffle of row indices, whole-batch gathers, then ID dropout to the unknown rows."""
    tensors = {k: tf.constant(v) for k, v in inputs.items()}
    labels = tf.constant(y)
    n = len(y)
    idx = tf.data.Dataset.range(n).shuffle(n, seed=seed, reshuffle_each_iteration=True).batch(batch_size)

    def gather(step: Any, rows: Any) -> tuple[dict[str, Any], Any]:
        x = {k: tf.gather(t, rows) for k, t in tensors.items()}
        for j, (name, row) in enumerate(unknown.items()):
            # stateless draws keyed on (seed, step): reproducible, and cheap under op determinism
            key = tf.stack([tf.constant(seed * 2 + j, tf.int64), step])
            drop = tf.random.stateless_uniform(tf.shape(rows), seed=key) < ID_DROPOUT
            x[name] = tf.where(drop, tf.constant(row, tf.int32), x[name])
        target = tf.gather(labels, rows)
        if len(labels.shape) == 2:
            target = {name: target[:, j:j + 1] for j, (name, _, _) in enumerate(HEADS)}
        return x, target

    return idx.enumerate().map(gather).prefetch(2)


def _known(pos: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Positions as embedding rows; unseen or out-of-range IDs map to the unknown row ``len(seen)``."""
    n = len(seen)
    ok = (pos >= 0) & (pos < n)
    ok[ok] = seen[pos[ok]]
    return np.where(ok, pos, n).astype(np.int32)


def _take(inputs: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[rows] for k, v in inputs.items()}
