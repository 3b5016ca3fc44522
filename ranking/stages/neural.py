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
from ranking.stages import training as T
from ranking.stages.scaling import apply_scaler, check_table, column, fit_scaler, matrix, positions

EMBEDDING_L2 = 1e-4  # L2 on looked-up embedding rows (Keras divides by batch): frequency-aware decay
GUARD_MIN_GAIN = 0.001  # stage 3 must lower stage 2's validation loss by this share, else it passes stage 2 through
PATIENCE = 3  # epochs without a better val_loss before early stopping
CHUNK = 262_144  # rows per forward pass at predict: one call up to this size, bounded memory above
THREADS = int(os.environ.get("LAB_TF_THREADS", "1"))
AUC_ROWS = 50_000  # training rows scored after each epoch for the training AUC
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

    if not _THREADS_SET:
        _set_threads(tf)
    return tf, keras


_THREADS_SET = False


def _set_threads(tf: Any) -> None:
    """One thread for TensorFlow's op pools: the network is small enough that parallel ops only cost
    hand-offs, and idle pool threads spin-wait on the cores XGBoost's next fit needs."""
    global _THREADS_SET
    try:
        tf.config.threading.set_intra_op_parallelism_threads(THREADS)
        tf.config.threading.set_inter_op_parallelism_threads(THREADS)
    except RuntimeError:  # TensorFlow was already running (another module set it up first)
        pass
    _THREADS_SET = True


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
    is trained by ID dropout: each batch shows ``training.ID_DROPOUT`` of its rows with an unknown user/item,
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
        self.residual_ = bool(self.signals_ and self.stage2_width_ == len(HEADS))
        self.user_seen_ = np.bincount(users[train], minlength=self.n_users_) > 0
        self.item_seen_ = np.bincount(items[train], minlength=self.n_items_) > 0
        inputs = self._inputs(X, users, items, s2)
        with _FIT_LOCK:  # seeds are process-global: two sessions fitting at once would mix them
            self.model_, self.history_ = self._train(inputs, y.astype(np.float32), valid, progress)
        val_loss = self.history_.get("val_loss")
        self.best_epoch_ = int(np.argmin(val_loss)) + 1 if val_loss else len(self.history_["loss"])
        # the guard: a residual network that does not predict the validation users' signals better than its
        # input (stage 2's out-of-fold predictions) passes its input through instead of adding noise
        self.best_val_loss_ = float(min(val_loss)) if val_loss else float("nan")
        self.passthrough_ = bool(self.residual_ and val_loss and not
                                 self.best_val_loss_ < self.input_val_loss_ * (1 - GUARD_MIN_GAIN))
        return self

    def _train(self, inputs: dict[str, np.ndarray], y: np.ndarray, valid: np.ndarray,
               progress: Progress | None) -> tuple[Any, dict[str, list[float]]]:
        """A plain training loop around one traced step, fed seeded NumPy batches.

        Keras ``fit`` traced its train step twice, a validation step and a tf.data pipeline, and Keras's
        Adam traces ~0.3 s of Python per step function: ~2.5 s of the stage's 3.5 s on the sample world,
        against ~0.5 s for the one trace here. Validation and AUC use the serving function, which
        ``predict`` then reuses. Early stopping keeps the best validation epoch's weights."""
        cfg = self.config
        tf, keras = _tf()
        keras.utils.set_random_seed(self.seed)
        tf.config.experimental.enable_op_determinism()  # process-wide; on CPU it costs little
        model = _build_model(keras, cfg, self._width(), self.stage2_width_, self.n_users_, self.n_items_,
                             self.seed, self.signals_)
        y = y.reshape(len(y), -1).copy()
        if self.signals_:
            y[:, 1] /= DWELL_SCALE
        kinds = tuple(loss for _, _, loss in HEADS) if self.signals_ else ("binary_crossentropy",)
        variables = [v.value for v in model.trainable_variables]
        adam = T.Adam(tf, variables, cfg.learning_rate)
        spec = (_input_spec(tf, inputs), tf.TensorSpec((None, y.shape[1]), tf.float32))

        @tf.function(input_signature=spec)  # one trace: a free batch dimension takes the last, short batch
        def step(x: dict[str, Any], target: Any) -> Any:
            with tf.GradientTape() as tape:
                loss = T.loss(tf, kinds, target, _stack(tf, model(x, training=True)))
                if model.losses:
                    loss += tf.add_n(model.losses)
            adam.apply(tape.gradient(loss, variables))
            return loss

        train_rows, valid_rows = np.flatnonzero(~valid), np.flatnonzero(valid)
        self.input_val_loss_ = float("nan")
        if self.residual_ and len(valid_rows):  # the zero-correction start: stage 2's own predictions
            start = inputs["stage2_base"][valid_rows].astype(np.float64)
            start = np.column_stack([1 / (1 + np.exp(-start[:, j])) if act == "sigmoid" else np.exp(start[:, j])
                                     for j, (_, act, _) in enumerate(HEADS)])
            self.input_val_loss_ = T.np_loss(kinds, y[valid_rows], start)
        unknown = {"user": self.n_users_, "item": self.n_items_} if cfg.id_embeddings else {}
        scored = np.concatenate([T.sample(train_rows, AUC_ROWS, self.seed), valid_rows])  # one forward pass
        n_fit = len(scored) - len(valid_rows)
        self.model_, self._serve_fn = model, None
        history: dict[str, list[float]] = {k: [] for k in LOG_KEYS if len(valid_rows) or not k.startswith("val_")}
        best, best_weights, waited = np.inf, None, 0
        rng = np.random.default_rng(self.seed)
        for e in range(cfg.epochs):
            losses = [step(x, t) for x, t in T.batches(inputs, y, train_rows, cfg.batch_size, rng, unknown)]
            pred = self._forward(_take(inputs, scored)).reshape(len(scored), -1)
            logs = {"loss": float(np.mean([float(v) for v in losses])),
                    "auc": auc(y[scored[:n_fit], 0], pred[:n_fit, 0])}
            if len(valid_rows):
                logs["val_loss"] = T.np_loss(kinds, y[valid_rows], pred[n_fit:])
                logs["val_auc"] = auc(y[valid_rows, 0], pred[n_fit:, 0])
            for k, v in logs.items():
                history[k].append(v)
            if progress is not None:
                progress(e, {k: float(logs.get(k, np.nan)) for k in LOG_KEYS})
            if not len(valid_rows):
                continue
            if logs["val_loss"] < best:
                best, best_weights, waited = logs["val_loss"], model.get_weights(), 0
            else:
                waited += 1
                if waited >= PATIENCE:
                    break
        if best_weights is not None:
            model.set_weights(best_weights)  # the serving function reads the same variables
        return model, history

    def guard_note(self) -> str:
        """One sentence when the guard passes stage 2's predictions through, else ''."""
        if not self.__dict__.get("passthrough_"):
            return ""
        return (f"Stage 3 passes stage 2's predictions through: its network did not lower stage 2's loss on the "
                f"validation users ({self.input_val_loss_:.4f} → best {self.best_val_loss_:.4f}), so it would "
                "only add noise; stage 3's list is stage 2's order.")

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
        if self.__dict__.get("passthrough_") and s2 is not None:
            return s2.astype(np.float32).copy()  # the guard (see fit): stage 2's predictions, unchanged
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
            # a partial (no __code__) keys TF's retracing detector per model, not per source line:
            # one trace per fitted model is expected, not a "retracing in a loop" warning
            self._serve_fn = tf.function(functools.partial(_serve, tf, self.model_),
                                         input_signature=[_input_spec(tf, inputs)])
        out = self._serve_fn(inputs).numpy()
        return out if out.shape[1] > 1 else out.ravel()

    # ------------------------------------------------------------------ preprocessing
    def _width(self) -> int:
        return self.n_features_ + len(self.scaler_["missing"])

    def _inputs(self, X: np.ndarray, users: np.ndarray, items: np.ndarray,
                s2: np.ndarray | None) -> dict[str, np.ndarray]:
        inputs = {"features": apply_scaler(X, self.scaler_)}
        if s2 is not None:
            if self.__dict__.get("signals_") and s2.shape[1] == len(HEADS):
                # residual heads: stage 2's predictions are the start, not an input of the trunk. Its training
                # rows carry out-of-fold predictions, candidates the full model's (sharper) ones: a trunk that
                # learnt a function of the first over-corrected the second (fresh worlds, see the README)
                inputs["stage2_base"] = _base(s2)
            else:
                inputs["stage2_score"] = apply_scaler(s2, self.stage2_scaler_)
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
    residual = signals and stage2 == len(HEADS)
    if stage2 and not residual:
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
    if residual:
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


def auc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """ROC AUC of the training log (the progress chart's); NaN with one class. The evaluation's own kernel is
    ``ranking.evaluation.metrics.auc``: stages never import evaluation (packages depend one way)."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y_true) > 0
    if y.all() or not y.any():
        return float("nan")
    return float(roc_auc_score(y, np.asarray(y_score, np.float64)))


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


def _serve(tf: Any, model: Any, inputs: dict[str, Any]) -> Any:
    # ``tf`` is passed in: calling ``_tf()`` here made AutoGraph try to convert ``os.environ.setdefault``
    # while tracing, and warn about it in every worker's log
    return _stack(tf, model(inputs, training=False))


def _input_spec(tf: Any, inputs: dict[str, np.ndarray]) -> dict[str, Any]:
    """The inputs' signature with a free batch dimension: one trace serves every batch size."""
    return {k: tf.TensorSpec((None, *v.shape[1:]), tf.as_dtype(v.dtype), name=k) for k, v in inputs.items()}


def _known(pos: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Positions as embedding rows; unseen or out-of-range IDs map to the unknown row ``len(seen)``."""
    n = len(seen)
    ok = (pos >= 0) & (pos < n)
    ok[ok] = seen[pos[ok]]
    return np.where(ok, pos, n).astype(np.int32)


def _take(inputs: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[rows] for k, v in inputs.items()}


def _stack(tf: Any, out: Any) -> Any:
    """The model's output as one (n, heads) tensor, heads in ``HEADS`` order."""
    if isinstance(out, dict):
        return tf.concat([out[name] for name, _, _ in HEADS], axis=1)
    return out
