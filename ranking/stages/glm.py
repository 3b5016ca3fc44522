"""A per-signal generalised linear model: the transparent ranker every learned stage must beat, and stage 2's start.

Where it sits: beside the stages. ``ranking.evaluation.baselines`` ranks every eligible item by it (the
"GLM" baseline); stage 2 (``ranking.stages.gbdt``) boosts its trees *from* its margins (XGBoost's
``base_margin``), so the trees learn only what the GLM misses, and where the trees saw no data (ages the
logging policy rarely showed) the GLM's smooth effects still extrapolate.

One model per signal, with the link that fits it: logistic regression for click, share and hide,
Poisson regression (log link) for dwell seconds and comment counts. Features of an impression, all known
before it:

- the user's stated affinity for the item's topic (0 where none is stated, with a missing indicator), the
  item's quality score and its age in days at the impression;
- one-hots of the item's topic and publisher;
- the user's smoothed click rate and the user's smoothed click rate on the item's topic (Bayesian averages
  toward the global rate with ``PRIOR_STRENGTH`` pseudo-impressions); on training rows they leave the row
  itself out (leave-one-out), so no row sees its own click;
- the feed slot as one-hots (slot 1 is the reference): the logged slot in training, slot 1 at serving, so
  every prediction is for the top of the feed.

Numeric columns are standardised on the training rows; L2 penalty as scikit-learn's default ``C = 1``
(Poisson: ``alpha = 1 / n``, the same strength per row). Because the model is linear, a score splits into
user, item and user × topic parts: :meth:`SignalGLM.rows` scores a chunk of users against the whole catalog
without building a pair matrix.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ranking.data import schema as S
from ranking.prep.split import ITEM_POS, USER_POS, Prepared, seconds

PRIOR_STRENGTH = 5.0
MAX_SLOT = 20  # slots past this share the last one-hot
VALUE_CELLS = 2_000_000  # users × items per block of value_rows (five float32 signals each: ~40 MB)
MAX_FIT_ROWS = 400_000  # larger logs are fitted on a seeded sample of this many rows (the fit is linear in rows)
LINKS = ("logit", "log", "logit", "log", "logit")  # per signal, in ranking.stages.value.SIGNALS order
NUMERIC = ("topic_match", "affinity_missing", "quality", "age_days", "user_click_rate", "user_topic_click_rate")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def clicks(frame: pd.DataFrame) -> np.ndarray:
    """float64 1.0 where the logged impression was clicked."""
    return (pd.to_numeric(frame[S.CLICK], errors="coerce").fillna(0).to_numpy(np.float64) > 0).astype(np.float64)


class SignalGLM:
    """Five GLMs (one per engagement signal) over the transparent features above; ``fit(prep)`` → self."""

    def __init__(self, seed: int = 0, strength: float = PRIOR_STRENGTH):
        self.seed = seed
        self.strength = strength

    # -- features ----------------------------------------------------------------------------------
    def _affinity(self, prep: Prepared, u: np.ndarray, topic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        aff = prep.user_affinity[u, topic].astype(np.float64)
        missing = np.isnan(aff)
        return np.where(missing, 0.0, aff), missing.astype(np.float64)

    def _count_rates(self, prep: Prepared, train: pd.DataFrame) -> None:
        u = train[USER_POS].to_numpy(np.int64)
        t = prep.item_topic[train[ITEM_POS].to_numpy(np.int64)].astype(np.int64)
        y = clicks(train)
        n_t = len(prep.topics)
        self.prior_ = float(y.mean()) if len(y) else 0.0
        self.user_n_ = np.bincount(u, minlength=prep.n_users).astype(np.float64)
        self.user_c_ = np.bincount(u, weights=y, minlength=prep.n_users)
        ut = u * n_t + t
        self.ut_n_ = np.bincount(ut, minlength=prep.n_users * n_t).reshape(prep.n_users, n_t).astype(np.float64)
        self.ut_c_ = np.bincount(ut, weights=y, minlength=prep.n_users * n_t).reshape(prep.n_users, n_t)

    def _rate(self, c: np.ndarray, n: np.ndarray) -> np.ndarray:
        return (c + self.strength * self.prior_) / (n + self.strength)

    def _numeric(self, prep: Prepared, u: np.ndarray, i: np.ndarray, age_days: np.ndarray,
                 own_click: np.ndarray | None = None) -> np.ndarray:
        """(n, len(NUMERIC)) raw numeric features; ``own_click`` (training rows) is left out of the rates."""
        topic = prep.item_topic[i].astype(np.int64)
        aff, missing = self._affinity(prep, u, topic)
        drop_c = 0.0 if own_click is None else own_click
        drop_n = 0.0 if own_click is None else 1.0
        user = self._rate(self.user_c_[u] - drop_c, self.user_n_[u] - drop_n)
        ut = self._rate(self.ut_c_[u, topic] - drop_c, self.ut_n_[u, topic] - drop_n)
        return np.column_stack([aff, missing, prep.item_quality[i].astype(np.float64), age_days, user, ut])

    def _design(self, prep: Prepared, num: np.ndarray, i: np.ndarray, slot: np.ndarray | None) -> sp.csr_matrix:
        n = len(i)
        z = (num - self.mean_) / self.scale_
        rows = np.arange(n)
        topic = sp.csr_matrix((np.ones(n), (rows, prep.item_topic[i].astype(np.int64))), shape=(n, len(prep.topics)))
        pub = sp.csr_matrix((np.ones(n), (rows, prep.item_publisher[i].astype(np.int64))),
                            shape=(n, len(prep.publishers)))
        blocks = [sp.csr_matrix(z), topic, pub]
        if self.n_slots_:
            s = np.zeros(n, np.int64) if slot is None else np.clip(np.nan_to_num(slot, nan=1), 1, MAX_SLOT)
            s = np.minimum(s.astype(np.int64), self.n_slots_) - 2  # slot 1 → −1: the reference, no column
            keep = s >= 0
            blocks.append(sp.csr_matrix((np.ones(int(keep.sum())), (rows[keep], s[keep])),
                                        shape=(n, self.n_slots_ - 1)))
        return sp.hstack(blocks, format="csr")

    # -- fitting ----------------------------------------------------------------------------------
    def fit(self, prep: Prepared, train: pd.DataFrame | None = None) -> SignalGLM:
        """Fit the five GLMs on the training rows (``prep.train`` by default)."""
        from sklearn.linear_model import LogisticRegression, PoissonRegressor

        from ranking.stages.value import targets

        train = prep.train if train is None else train
        self._count_rates(prep, train)
        if len(train) > MAX_FIT_ROWS:
            pick = np.sort(np.random.default_rng(self.seed).choice(len(train), MAX_FIT_ROWS, replace=False))
            train = train.iloc[pick]
        u, i = train[USER_POS].to_numpy(np.int64), train[ITEM_POS].to_numpy(np.int64)
        age = np.maximum(seconds(train[S.EVENT_TS]) - prep.item_published_s[i], 0) / 86400.0
        num = self._numeric(prep, u, i, age, own_click=clicks(train))
        self.mean_ = num.mean(axis=0) if len(num) else np.zeros(num.shape[1])
        sd = num.std(axis=0) if len(num) else np.ones(num.shape[1])
        self.scale_ = np.where(sd > 1e-9, sd, 1.0)
        slot = train[S.POSITION].to_numpy(np.float64) if S.POSITION in train else None
        self.n_slots_ = 0 if slot is None or np.isnan(slot).all() else int(min(np.nanmax(slot), MAX_SLOT))
        X = self._design(prep, num, i, slot)
        Y = targets(train)
        self.coef_ = np.zeros((len(LINKS), X.shape[1]))
        self.intercept_ = np.zeros(len(LINKS))
        for j, link in enumerate(LINKS):
            y = Y[:, j].astype(np.float64)
            if link == "logit":
                if y.min() == y.max():  # one class only (e.g. no share logged): a constant rate
                    self.intercept_[j] = np.log(np.clip(y.mean(), 1e-6, 1 - 1e-6) / np.clip(1 - y.mean(), 1e-6, 1))
                    continue
                model = LogisticRegression(C=1.0, solver="newton-cholesky", max_iter=100,
                                           random_state=self.seed).fit(X, y.astype(np.int64))
                self.coef_[j], self.intercept_[j] = model.coef_[0], model.intercept_[0]
            else:
                if y.max() <= 0:
                    self.intercept_[j] = np.log(1e-6)
                    continue
                model = PoissonRegressor(alpha=1.0 / len(y), solver="newton-cholesky", max_iter=100).fit(X, y)
                self.coef_[j], self.intercept_[j] = model.coef_, model.intercept_
        self.n_rows_ = len(train)
        return self

    # -- scoring ----------------------------------------------------------------------------------
    def pair_margins(self, prep: Prepared, user_pos: np.ndarray, item_pos: np.ndarray, at_s: np.ndarray | int,
                     position: np.ndarray | None = None, own_click: np.ndarray | None = None) -> np.ndarray:
        """float64 (n, 5) linear predictors (logit or log) of pairs shown at ``at_s`` in slot ``position``
        (default slot 1); ``own_click`` for training rows leaves each row out of its own rates."""
        u, i = np.asarray(user_pos, np.int64), np.asarray(item_pos, np.int64)
        age = np.maximum(np.asarray(at_s, np.int64) - prep.item_published_s[i], 0) / 86400.0
        X = self._design(prep, self._numeric(prep, u, i, np.broadcast_to(age, u.shape).astype(np.float64),
                                             own_click), i, position)
        return np.asarray(X @ self.coef_.T) + self.intercept_

    def pair_signals(self, prep: Prepared, user_pos: np.ndarray, item_pos: np.ndarray, at_s: np.ndarray | int,
                     position: np.ndarray | None = None) -> np.ndarray:
        """float32 (n, 5) predicted signals of pairs (probabilities, seconds, counts)."""
        return inverse_link(self.pair_margins(prep, user_pos, item_pos, at_s, position))

    def serving_margins(self, prep: Prepared, user_pos: np.ndarray, item_pos: np.ndarray) -> np.ndarray:
        """Linear predictors of pairs at serving time (``Prepared.serving_s``), slot 1."""
        return self.pair_margins(prep, user_pos, item_pos, prep.serving_s(item_pos))

    def serving_signals(self, prep: Prepared, user_pos: np.ndarray, item_pos: np.ndarray) -> np.ndarray:
        """Signals of pairs at serving time (``Prepared.serving_s``), slot 1."""
        return inverse_link(self.serving_margins(prep, user_pos, item_pos))

    def value_rows(self, prep: Prepared, users: np.ndarray, labels=None) -> np.ndarray:
        """float32 (len(users), n_items) value Σ wᵢ·signalᵢ of every item under ``labels`` (default
        ``prep.labels``)."""
        from ranking.stages.value import value

        users = np.asarray(users, np.int64)
        out = np.empty((len(users), prep.n_items), np.float32)
        step = max(1, VALUE_CELLS // max(prep.n_items, 1))  # bounded (users, items, 5) blocks
        for lo in range(0, len(users), step):
            rows = self.rows(prep, users[lo:lo + step])
            out[lo:lo + step] = value(prep, rows, np.broadcast_to(np.arange(prep.n_items), rows.shape[:2]), labels)
        return out

    def rows(self, prep: Prepared, users: np.ndarray) -> np.ndarray:
        """float32 (len(users), n_items, 5) serving signals of every item, from the model's user, item and
        user × topic parts (no pair matrix)."""
        u = np.asarray(users, np.int64)
        n_t, n_p = len(prep.topics), len(prep.publishers)
        k = len(NUMERIC)
        w = self.coef_[:, :k] / self.scale_  # per raw numeric feature
        offset = self.intercept_ - self.coef_[:, :k] @ (self.mean_ / self.scale_)
        w_topic, w_pub = self.coef_[:, k:k + n_t], self.coef_[:, k + n_t:k + n_t + n_p]
        topic = prep.item_topic.astype(np.int64)
        item = (offset[:, None] + w[:, 2:3] * prep.item_quality[None, :] + w[:, 3:4] * prep.item_age_days[None, :]
                + w_topic[:, topic] + w_pub[:, prep.item_publisher.astype(np.int64)])  # (5, n_items)
        aff = prep.user_affinity[u].astype(np.float64)
        missing = np.isnan(aff)
        aff = np.where(missing, 0.0, aff)
        user_rate = self._rate(self.user_c_[u], self.user_n_[u])  # (n_u,)
        ut_rate = self._rate(self.ut_c_[u], self.ut_n_[u])  # (n_u, n_t)
        out = np.empty((len(u), prep.n_items, len(LINKS)), np.float32)
        for j in range(len(LINKS)):
            per_topic = w[j, 0] * aff + w[j, 1] * missing + w[j, 5] * ut_rate + (w[j, 4] * user_rate)[:, None]
            out[..., j] = inverse_link(per_topic[:, topic] + item[j][None, :], j)
        return out


def inverse_link(margin: np.ndarray, signal: int | None = None) -> np.ndarray:
    """Mean from linear predictor: σ for logit signals, exp for log ones (``signal`` None: last axis is signals)."""
    if signal is not None:
        m = np.clip(margin, -30, 30)
        return (_sigmoid(m) if LINKS[signal] == "logit" else np.exp(m)).astype(np.float32)
    out = np.empty(margin.shape, np.float32)
    for j in range(margin.shape[-1]):
        out[..., j] = inverse_link(margin[..., j], j)
    return out
