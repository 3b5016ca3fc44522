"""Predict each engagement signal, then combine: the value model behind stages 2 and 3.

Where it sits: inside the ranking stages. In the default ``target="signals"`` mode the ranker
learns what an impression will bring — P(click), E[dwell], P(share), E[comment], P(hide) — and
the feed orders by the *value* Σ wᵢ·predictionᵢ with the current label weights (hide
subtracted, dwell divided by the label's expected dwell), exactly the expected compound score a
generated world's truth ranks by (``ranking.data.truth.gain_from_signals``). The weights are
applied after prediction, so moving a weight slider re-ranks without retraining, as production
feeds combine their heads with fixed weights. The notebook's path (threshold the compound score
into a binary label, train a classifier) is ``target="label"``.

Targets per logged impression: click > 0, dwell time (seconds; 0 without a click, so its mean is
E[dwell]), share > 0, comment count (0 without a click), hide > 0. Each signal gets the loss that
fits it: logistic for the three probabilities, squared error for dwell, Poisson for comments.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import xgboost as xgb

from ranking.data import schema as S
from ranking.data.truth import gain_from_signals
from ranking.prep import labels as L
from ranking.prep.lists import PAD
from ranking.prep.split import Prepared

# (prediction name, logged column, kind): the order of every signal matrix's columns
SIGNALS: tuple[tuple[str, str, str], ...] = (
    (S.P_CLICK, S.CLICK, "probability"), (S.E_DWELL, S.DWELL, "seconds"), (S.P_SHARE, S.SHARE, "probability"),
    (S.E_COMMENT, S.COMMENT, "count"), (S.P_HIDE, S.HIDE, "probability"),
)
NAMES = tuple(name for name, _, _ in SIGNALS)
# dwell seconds are non-negative with many zeros: a log link (Poisson) like the GLM's, so the trees can boost
# from the GLM's margin (``ranking.stages.glm``)
OBJECTIVES = {"probability": "binary:logistic", "seconds": "count:poisson", "count": "count:poisson"}
EVAL_NAMES = ("train", "valid")  # the eval sets' names in progress logs and ``evals_result_``
# the training curve is measured on at most this many training rows (a seeded sample): evaluating every
# training row after every round cost as much as a third of stage 2 at 10k users; early stopping watches
# the validation rows, so the models are the same either way
EVAL_TRAIN_ROWS = 20_000
# early stopping watches the last metric: the objective's own loss
EVAL_METRICS = {"probability": ["auc", "logloss"], "seconds": ["rmse", "poisson-nloglik"],
                "count": ["poisson-nloglik"]}


def targets(frame: pd.DataFrame) -> np.ndarray:
    """float32 (n, 5) training targets of logged impressions, columns in ``SIGNALS`` order."""
    out = np.empty((len(frame), len(SIGNALS)), np.float32)
    for j, (_, column, kind) in enumerate(SIGNALS):
        v = pd.to_numeric(frame[column], errors="coerce").fillna(0).to_numpy(np.float64)
        out[:, j] = (v > 0) if kind == "probability" else np.maximum(v, 0.0)
    return out


def as_dict(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """A (..., 5) signal array as name → (...) arrays."""
    return {name: matrix[..., j] for j, name in enumerate(NAMES)}


def stack(signals: dict[str, np.ndarray]) -> np.ndarray:
    """name → array back to one (..., 5) float32 array."""
    return np.stack([signals[name] for name in NAMES], axis=-1).astype(np.float32)


def value(prep: Prepared, signals: np.ndarray, items: np.ndarray, labels: L.LabelConfig | None = None
          ) -> np.ndarray:
    """float32 Σ wᵢ·signalᵢ under ``labels`` (default ``prep.labels``) for signals of ``items`` (same shape; NaN
    where PAD)."""
    labels = labels or prep.labels or L.LabelConfig()
    norm = L.expected_dwell_per_item(prep.interactions, prep.dataset.content, labels)
    items = np.asarray(items)
    if not np.isscalar(norm):
        norm = np.asarray(norm, np.float64)[np.maximum(items, 0)]
    out = gain_from_signals(as_dict(np.asarray(signals, np.float32)), labels, norm)
    return np.where(items == PAD, np.float32(np.nan), out).astype(np.float32)


class SignalBoosters:
    """One XGBoost model per signal on the same features; ``predict`` gives the (n, 5) signal matrix."""

    def __init__(self, params: dict, early_stopping: int | None, hidden: tuple[int, ...] = ()):
        self.params = params
        self.early_stopping = early_stopping
        self.hidden = tuple(hidden)  # feature columns the trees never see (left to the starting margin)

    def _view(self, X: np.ndarray) -> np.ndarray:
        if not self.__dict__.get("hidden"):
            return X
        X = np.array(X, dtype=np.float32, copy=True)
        X[:, list(self.hidden)] = np.nan
        return X

    def fit(self, X: np.ndarray, Y: np.ndarray, valid: np.ndarray | None = None,
            progress: Callable[[int, int, dict], None] | None = None, rounds: list[int] | None = None,
            margin: np.ndarray | None = None) -> SignalBoosters:
        """Train each signal's booster (early stopping on ``valid`` rows, or fixed ``rounds`` per signal).

        ``margin`` (n, 5): a starting prediction per row on each objective's link scale (logit, log), e.g. the
        GLM's; the trees then learn only corrections to it (XGBoost's ``base_margin``)."""
        self.models_: list[xgb.XGBRegressor] = []
        self.evals_result_: list[dict] = []
        fit = np.ones(len(X), bool) if valid is None else ~valid
        X = self._view(X)
        # the same X and y objects as the training set: XGBoost then reuses its matrix for the train eval
        Xf, Yf = X[fit], Y[fit]
        has_valid = valid is not None and valid.any()
        Xv = X[valid] if has_valid else None
        self.boosted_from_margin_ = margin is not None
        Mf = None if margin is None else margin[fit]
        Mv = None if margin is None or not has_valid else margin[valid]
        # the training curve's rows: all of them (the very training objects: XGBoost reuses their matrix), or a
        # seeded sample when there are many (see EVAL_TRAIN_ROWS)
        sub = None if len(Xf) <= EVAL_TRAIN_ROWS else np.sort(
            np.random.default_rng(int(self.params.get("random_state") or 0)).choice(len(Xf), EVAL_TRAIN_ROWS,
                                                                                    replace=False))
        Xe = Xf if sub is None else Xf[sub]
        self.train_curve_rows_ = len(Xe)
        for j, (_, _, kind) in enumerate(SIGNALS):
            y = Yf[:, j]
            base = float(np.clip(y.mean(), 1e-3, 1 - 1e-3)) if kind == "probability" else max(float(y.mean()), 1e-3)
            # the intercept is set, not estimated: a fold without a single share still trains (flat)
            params = dict(self.params, objective=OBJECTIVES[kind], eval_metric=EVAL_METRICS[kind], base_score=base)
            if rounds is not None:
                params["n_estimators"], params["early_stopping_rounds"] = rounds[j], None
            else:
                params["early_stopping_rounds"] = self.early_stopping
            callbacks = None if progress is None else [RoundProgress(lambda r, logs, _j=j: progress(_j, r, logs))]
            model = xgb.XGBRegressor(callbacks=callbacks, **params)
            evals = [(Xe, y if sub is None else y[sub])] + ([(Xv, Y[valid, j])] if has_valid else [])
            extra = {}
            if Mf is not None:
                extra["base_margin"] = Mf[:, j]
                if rounds is None:
                    extra["base_margin_eval_set"] = ([Mf[:, j] if sub is None else Mf[sub, j]]
                                                     + ([Mv[:, j]] if has_valid else []))
            model.fit(Xf, y, eval_set=evals if rounds is None else None, verbose=False, **extra)
            model.callbacks = None  # the caller's progress function may not pickle
            self.models_.append(model)
            self.evals_result_.append(model.evals_result() if rounds is None else {})
        self.best_rounds_ = [int(getattr(m, "best_iteration", m.n_estimators - 1)) + 1 for m in self.models_]
        return self

    def predict(self, X: np.ndarray, margin: np.ndarray | None = None) -> np.ndarray:
        """float32 (n, 5) predicted signals (probabilities, seconds, counts: all ≥ 0); ``margin`` as in ``fit``
        (required when the boosters were fitted from one)."""
        out = np.empty((len(X), len(SIGNALS)), np.float32)
        if not len(X):
            return out
        if getattr(self, "boosted_from_margin_", False) and margin is None:
            raise ValueError("these boosters were trained from a starting margin: pass margin=")
        X = self._view(X)
        for j, model in enumerate(self.models_):
            out[:, j] = model.predict(X, base_margin=None if margin is None else margin[:, j])
        return np.maximum(out, 0.0, out=out)

    def importance(self, booster_names: list[str], names: list[str]) -> pd.Series:
        """Mean over signals of each feature's share of its booster's total gain (signals weigh alike)."""
        total = np.zeros(len(names))
        for model in self.models_:
            gain = model.get_booster().get_score(importance_type="total_gain")
            g = np.array([float(gain.get(f, 0.0)) for f in booster_names])
            total += g / g.sum() if g.sum() > 0 else g
        return pd.Series(total / len(self.models_), index=names, name="share_of_gain")


class RoundProgress(xgb.callback.TrainingCallback):
    """Reports each boosting round's latest metrics ("train-auc", "valid-logloss", …) to ``fn(round, metrics)``."""

    def __init__(self, fn: Callable[[int, dict], None]):
        super().__init__()
        self.fn = fn

    def after_iteration(self, model, epoch: int, evals_log: dict) -> bool:
        latest = {f"{EVAL_NAMES[j]}-{m}": float(v[-1])
                  for j, (_, metrics) in enumerate(evals_log.items()) for m, v in metrics.items()}
        self.fn(epoch, latest)
        return False
