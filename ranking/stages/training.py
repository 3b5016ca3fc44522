"""The parts of stage 3's training loop that are not the network: losses, Adam, batches.

Where it sits: ``ranking.stages.neural`` builds the Keras network and runs the loop; this module holds
the pieces that loop calls. TensorFlow arrives as an argument (``tf``), never as an import, so importing
it stays light.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

EPS = 1e-7  # Keras's epsilon: probability clip in the losses, Adam's denominator
ID_DROPOUT = 0.1  # share of training rows whose user (and, independently, item) is shown as "unknown"


def loss(tf: Any, kinds: tuple[str, ...], target: Any, pred: Any) -> Any:
    """Sum over heads of each head's mean loss (Keras's definitions, its 1e-7 clip included)."""
    total = tf.constant(0.0)
    for j, kind in enumerate(kinds):
        t, p = target[:, j], pred[:, j]
        if kind == "binary_crossentropy":
            p = tf.clip_by_value(p, EPS, 1 - EPS)
            total += -tf.reduce_mean(t * tf.math.log(p) + (1 - t) * tf.math.log(1 - p))
        elif kind == "mse":
            total += tf.reduce_mean(tf.square(t - p))
        else:  # poisson
            total += tf.reduce_mean(p - t * tf.math.log(p + EPS))
    return total


def np_loss(kinds: tuple[str, ...], target: np.ndarray, pred: np.ndarray) -> float:
    """``loss`` in NumPy (float64), for the validation rows."""
    total = 0.0
    for j, kind in enumerate(kinds):
        t, p = target[:, j].astype(np.float64), pred[:, j].astype(np.float64)
        if kind == "binary_crossentropy":
            p = np.clip(p, EPS, 1 - EPS)
            total += -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
        elif kind == "mse":
            total += np.mean(np.square(t - p))
        else:
            total += np.mean(p - t * np.log(p + EPS))
    return float(total)


class Adam:
    """Adam (Kingma & Ba 2015, Keras's defaults) as one fused ``ResourceApplyAdam`` op per variable.

    Keras's optimizer does the same update, but tracing its Python costs ~0.3 s per fit, a tenth of
    "train all" on the sample world. Sparse embedding gradients are applied densely, as Keras does."""

    def __init__(self, tf: Any, variables: list[Any], learning_rate: float):
        self.tf, self.variables, self.lr = tf, variables, learning_rate
        self.m = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        self.v = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        self.t = tf.Variable(0.0, trainable=False)

    def apply(self, grads: list[Any]) -> None:
        tf = self.tf
        self.t.assign_add(1.0)
        b1, b2 = tf.constant(0.9), tf.constant(0.999)
        for var, g, m, v in zip(self.variables, grads, self.m, self.v, strict=True):
            tf.raw_ops.ResourceApplyAdam(var=var.handle, m=m.handle, v=v.handle, beta1_power=b1 ** self.t,
                                         beta2_power=b2 ** self.t, lr=tf.constant(self.lr, tf.float32),
                                         beta1=b1, beta2=b2, epsilon=tf.constant(EPS), grad=tf.convert_to_tensor(g))


def batches(inputs: dict[str, np.ndarray], y: np.ndarray, rows: np.ndarray, batch_size: int,
             rng: np.random.Generator, unknown: dict[str, int]) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray]]:
    """One epoch of seeded, reshuffled batches, with ID dropout to the unknown embedding rows."""
    order = rows[rng.permutation(len(rows))]
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        x = {k: v[batch] for k, v in inputs.items()}
        for name, row in unknown.items():
            x[name] = np.where(rng.random(len(batch)) < ID_DROPOUT, np.int32(row), x[name])
        yield x, y[batch]




def sample(rows: np.ndarray, n: int, seed: int) -> np.ndarray:
    if len(rows) <= n:
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, size=n, replace=False))
