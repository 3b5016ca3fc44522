"""Stage 2: an XGBoost ranker over stage 1's candidates, trained without leaking its own labels.

Where it sits: candidates (stage 1) → **GBDT ranker** → top N for the neural re-ranker (stage 3).

Leakage and how it is avoided. Stage 1's learned parts (popularity, CF) and the count
features (user–publisher and user–topic rates, item CTR, activity) are fitted on training
interactions. Features computed from the very rows the ranker then learns would carry those
rows' labels into the inputs. So ``fit`` splits each user's *training* interactions by time:
the earliest ``HISTORY_SHARE`` (rounded down, at least one row left) are *history*, the rest
are *targets* (a user with one training interaction has no history, only a target). A fresh
stage-1 generator with the caller's config is fitted on the history alone, ``FeatureStats``
are counted on the history alone, the target rows' features come from those (with the
item's age at the target's event time), and XGBoost learns the target labels.

At serving time, features of candidates come from the stage 1 passed to ``fit`` (fitted on
the whole training set) and statistics over the whole training set. Item age is a *context*
feature: in training it is the item's age at the target's event time; at serving every
candidate is scored at its real age at serving time ``prep.now_s`` (a generated world's
``now``, else the log's last event), which is also the age the world's truth uses. Stage 1's
age limit (``CandidateConfig.max_age_days``) keeps candidates within the ages the trees saw;
``serve_age_s_`` (the median age of training impressions) is kept for reference only.

Validation rows for early stopping are a seeded 15 % of the users with targets;
``TrainingTable.oof_score`` holds out-of-fold scores (two user folds, each scored by a
model trained on the other) so stage 3 can stack on stage 2 without leakage.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pandas as pd
import xgboost as xgb

from ranking.config import GBDTConfig, Target
from ranking.data import schema as S
from ranking.errors import TrainingError
from ranking.prep.lists import PAD, RankedLists, order_rows
from ranking.prep.split import Prepared
from ranking.stages import features as F
from ranking.stages import value as V
from ranking.stages.glm import SignalGLM
from ranking.stages.table import HISTORY_SHARE, VALID_SHARE, TrainingTable, history_mask, history_prep, training_table

__all__ = ["HISTORY_SHARE", "VALID_SHARE", "GBDTRanker", "TrainingTable", "history_mask", "history_prep",
           "training_table", "xgb_feature_names"]
N_FOLDS = 2
CHUNK_USERS = 2048  # candidate rows featurised and predicted per call: bounds memory at 50k users
CHUNK_PAIRS = 500_000
_EVAL_NAMES = V.EVAL_NAMES


class GBDTRanker:
    """XGBoost on ``ranking.stages.features``: one booster per signal (``target="signals"``, ranked by
    Σ wᵢ·predictionᵢ, see ``ranking.stages.value``), or one classifier/LambdaMART on the binary label."""

    def __init__(self, config: GBDTConfig, seed: int = 0, target: Target = "label"):
        self.config = config
        self.seed = seed
        self.target = target

    @property
    def signals_mode(self) -> bool:
        return self.target == "signals"

    # -- training -------------------------------------------------------------------------

    def fit(self, prep: Prepared, stage1, progress: Callable[[int, dict], None] | None = None) -> GBDTRanker:
        """Build the leak-free training table, train with early stopping, compute out-of-fold scores."""
        table = training_table(prep, stage1, self.seed)
        _check_trainable(table, "binary:logistic" if self.signals_mode else self.config.objective)
        tr, va = ~table.is_valid, table.is_valid
        self.feature_names_ = list(table.feature_names)
        safe = xgb_feature_names(table.feature_names)  # data-made names (topics) may hold characters XGBoost
        self.oof_fallback_ = False                      # refuses: it sees stand-ins, the UI the original text
        if self.signals_mode:
            rounds = self.config.n_estimators

            def each(j: int, r: int, logs: dict) -> None:
                if progress:  # each model's metrics under its signal's name (see ``curve_key``)
                    progress(min(rounds - 1, (j * rounds + r) // len(V.SIGNALS)),
                             {curve_key(V.NAMES[j], k): v for k, v in logs.items()})

            # the trees start from the GLM's prediction and learn corrections: where they saw no data (ages the
            # logging policy rarely showed) the GLM's smooth effects still extrapolate
            # stage 1's GLM source is the same model on the same rows: reuse it
            self.glm_ = None if not self.config.boost_from_glm else (
                getattr(stage1, "glm_", None) or SignalGLM(seed=self.seed).fit(prep))
            table = dataclasses.replace(table, glm_margin=self._table_margin(prep, table))
            boosters = V.SignalBoosters(self._params(), self.config.early_stopping_rounds, self._hidden(table)).fit(
                table.X, table.signals, va, progress=each, margin=table.glm_margin)
            for m in boosters.models_:
                m.get_booster().feature_names = safe
            self.signal_model_ = boosters
            model = boosters.models_[0]  # the click head: its trees are what SHAP explains on the pages
            self.importance_ = boosters.importance(safe, self.feature_names_).sort_values(
                ascending=False, kind="stable")
            self.table_ = dataclasses.replace(table, oof_signals=self._oof_signals(table, boosters.best_rounds_))
        else:
            model = self._model(self.config.n_estimators, self.config.early_stopping_rounds,
                                [V.RoundProgress(progress)] if progress else None)
            evals = [(table.X[tr], table.y[tr]), (table.X[va], table.y[va])]
            if self._ranking:
                model.fit(table.X[tr], table.y[tr], qid=table.user_pos[tr], eval_set=evals,
                          eval_qid=[table.user_pos[tr], table.user_pos[va]], verbose=False)
            else:
                model.fit(table.X[tr], table.y[tr], eval_set=evals, verbose=False)
            model.callbacks = None  # the caller's progress function may not pickle
            model.get_booster().feature_names = safe
            gain = model.get_booster().get_score(importance_type="total_gain")
            total = pd.Series([float(gain.get(f, 0.0)) for f in safe], index=self.feature_names_, name="total_gain")
            self.importance_ = total.sort_values(ascending=False, kind="stable")
        self.model_ = model
        self.best_iteration_ = int(getattr(model, "best_iteration", self.config.n_estimators - 1))
        self.evals_result_ = {_EVAL_NAMES[j]: {m: list(v) for m, v in metrics.items()}
                              for j, metrics in enumerate(model.evals_result().values())}
        if not self.signals_mode:
            self.table_ = dataclasses.replace(table, oof_score=self._oof(table))
        self.stats_ = F.fit_stats(prep, prep.train)
        ages = table.at_s - prep.item_published_s[table.item_pos]
        self.serve_age_s_ = int(np.median(ages)) if len(ages) else 0
        self.stage1_ = stage1
        self.n_train_rows_, self.n_valid_rows_ = int(tr.sum()), int(va.sum())
        return self

    def _table_margin(self, prep: Prepared, table: TrainingTable) -> np.ndarray | None:
        """The GLM's margins of the training rows: at their event time and logged slot, each row left out of
        its own click rates (the GLM was fitted on every training row)."""
        if getattr(self, "glm_", None) is None:
            return None
        slot = table.X[:, table.feature_names.index("position")]
        return self.glm_.pair_margins(prep, table.user_pos, table.item_pos, table.at_s, position=slot,
                                      own_click=table.signals[:, 0].astype(np.float64))

    def _hidden(self, table: TrainingTable) -> tuple[int, ...]:
        """Columns the trees do not see when they start from the GLM. The item's age is the GLM's alone: trees
        split on the ages the logging policy showed (mostly under two days) and stay flat beyond them, so an
        age correction learnt on fresh items would be applied unchanged to week-old ones at serving. Stage 1's
        scores are left out too: its GLM source already is the start, and the history-fitted stage 1 that
        scores the training rows differs from the full one that scores candidates (on fresh worlds they made
        the trees worse than the GLM alone, see the README)."""
        if getattr(self, "glm_", None) is None:
            return ()
        names = list(table.feature_names)
        return tuple(names.index(n) for n in ("age_hours", *F.FEATURE_NAMES[-5:]) if n in names)

    def _serving_margin(self, prep: Prepared, u: np.ndarray, i: np.ndarray) -> np.ndarray | None:
        """The GLM's margins of pairs at serving time, slot 1 (None without a GLM)."""
        if getattr(self, "glm_", None) is None:
            return None
        return self.glm_.serving_margins(prep, u, i)

    def _params(self) -> dict:
        c = self.config
        return dict(n_estimators=c.n_estimators, max_depth=c.max_depth, learning_rate=c.learning_rate,
                    min_child_weight=c.min_child_weight, subsample=c.subsample, colsample_bytree=c.colsample_bytree,
                    tree_method="hist", random_state=self.seed, n_jobs=c.n_jobs)

    def _folds(self, table: TrainingTable) -> np.ndarray:
        users = np.unique(table.user_pos)
        rng = np.random.default_rng(np.random.SeedSequence(self.seed).spawn(2)[1])
        fold_of = np.zeros(int(users.max()) + 1, np.int64)
        fold_of[rng.permutation(users)] = np.arange(len(users)) % N_FOLDS
        return fold_of[table.user_pos]

    def _oof_signals(self, table: TrainingTable, rounds: list[int]) -> np.ndarray:
        """Signals of each user fold predicted by boosters trained on the other fold (the main model's rounds)."""
        fold = self._folds(table)
        out = np.empty((len(table), len(V.SIGNALS)), np.float32)
        for f in range(N_FOLDS):
            held = fold == f
            if not held.any():
                continue
            if held.all():  # a single user: no other fold to learn from; fall back to the main model, and say so
                self.oof_fallback_ = True
                out[held] = self.signal_model_.predict(table.X[held], _rows(table.glm_margin, held))
                continue
            part = V.SignalBoosters(self._params(), None, self._hidden(table)).fit(
                table.X[~held], table.signals[~held], rounds=rounds, margin=_rows(table.glm_margin, ~held))
            out[held] = part.predict(table.X[held], _rows(table.glm_margin, held))
        return out

    @property
    def _ranking(self) -> bool:
        return self.config.objective.startswith("rank:")

    def _model(self, n_estimators: int, early_stopping: int | None, callbacks) -> xgb.XGBModel:
        c = self.config
        params = dict(self._params(), n_estimators=n_estimators, early_stopping_rounds=early_stopping,
                      callbacks=callbacks)
        if self._ranking:
            return xgb.XGBRanker(objective=c.objective, eval_metric=["auc", "ndcg@10"], **params)
        return xgb.XGBClassifier(objective=c.objective, eval_metric=["auc", "logloss"], **params)

    def _oof(self, table: TrainingTable) -> np.ndarray:
        """Scores of each user fold from a model trained on the other fold, with the main model's rounds."""
        fold = self._folds(table)
        out = np.empty(len(table), np.float32)
        for f in range(N_FOLDS):
            held, fit_rows = fold == f, fold != f
            if not held.any():
                continue
            part = dataclasses.replace(table, X=table.X[fit_rows], y=table.y[fit_rows],
                                       user_pos=table.user_pos[fit_rows], is_valid=table.is_valid[fit_rows])
            try:
                _check_trainable(part, self.config.objective, valid=False)
            except TrainingError:
                # too little data in the other fold: fall back to the (leaky) main model, and say so
                self.oof_fallback_ = True
                out[held] = self._predict(table.X[held])
                continue
            model = self._model(self.best_iteration_ + 1, None, None)
            if self._ranking:
                model.fit(part.X, part.y, qid=part.user_pos, verbose=False)
            else:
                model.fit(part.X, part.y, verbose=False)
            out[held] = _output(model, table.X[held], self._ranking)
        return out

    # -- serving --------------------------------------------------------------------------

    def _predict(self, X: np.ndarray, margin: np.ndarray | None = None) -> np.ndarray:
        """The label model's score (n,), or in signals mode the signal matrix (n, 5) (``margin``: the GLM's)."""
        if self.signals_mode:
            return self.signal_model_.predict(X, margin)
        return _output(self.model_, X, self._ranking)

    def _width(self) -> tuple[int, ...]:
        return (len(V.SIGNALS),) if self.signals_mode else ()

    def learning_curves(self, which: str = "valid") -> dict[str, list[float]]:
        """Each trained model's loss per boosting round on ``which`` set ("train" or "valid"): one entry per
        signal model in signals mode (its objective's own loss), else {"label": …} (the last logged metric)."""
        if self.signals_mode:
            logs = zip(V.NAMES, self.signal_model_.evals_result_, strict=True)
            return {n: list(list(r.values())[V.EVAL_NAMES.index(which)].values())[-1] for n, r in logs if r}
        metrics = self.evals_result_.get(which, {})
        return {"label": list(metrics.values())[-1]} if metrics else {}

    def trees_used(self) -> dict[str, int]:
        """Trees each model kept after early stopping: per signal in signals mode, else {"label": n}."""
        if self.signals_mode:
            return dict(zip(V.NAMES, self.signal_model_.best_rounds_, strict=True))
        return {"label": self.best_iteration_ + 1}

    def pair_features(self, prep: Prepared, user_pos: np.ndarray, item_pos: np.ndarray) -> np.ndarray:
        """Serving features (full-train stage 1 and statistics, every item at its real age at ``now_s``) of pairs."""
        if not hasattr(self, "model_"):
            raise TrainingError("the stage-2 ranker is not fitted yet: call fit(prep, stage1) first")
        u, i = np.asarray(user_pos, np.int64), np.asarray(item_pos, np.int64)
        return F.build(prep, self.stats_, self.stage1_.score_pairs(prep, u, i), u, i, prep.serving_s(i))[0]

    def pair_outputs(self, prep: Prepared, user_pos: np.ndarray, item_pos: np.ndarray) -> np.ndarray:
        """float32 raw outputs of pairs: the label score (n,), or in signals mode the signals (n, 5)."""
        u, i = np.asarray(user_pos, np.int64), np.asarray(item_pos, np.int64)
        out = np.empty((len(u), *self._width()), np.float32)
        for lo in range(0, len(u), CHUNK_PAIRS):
            uu, ii = u[lo:lo + CHUNK_PAIRS], i[lo:lo + CHUNK_PAIRS]
            out[lo:lo + CHUNK_PAIRS] = self._predict(self.pair_features(prep, uu, ii),
                                                     self._serving_margin(prep, uu, ii))
        return out

    def score_pairs(self, prep: Prepared, user_pos: np.ndarray, item_pos: np.ndarray) -> np.ndarray:
        """float32 stage-2 score of arbitrary (user, item) pairs, e.g. held-out interactions."""
        out = self.pair_outputs(prep, user_pos, item_pos)
        return V.value(prep, out, np.asarray(item_pos)) if self.signals_mode else out

    def features_for(self, prep: Prepared, cands: RankedLists, users: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Features of every real candidate, row-major: (X, user_pos, item_pos, mask of cands.items)."""
        mask = cands.items != PAD
        rows, cols = np.nonzero(mask)
        u = _row_users(cands, users)[rows]
        i = cands.items[rows, cols]
        return self.pair_features(prep, u, i), u.astype(np.int32), i.astype(np.int32), mask

    def score(self, prep: Prepared, cands: RankedLists, users: np.ndarray | None = None) -> np.ndarray:
        """float32 (n_rows, K) stage-2 score of each candidate (signals mode: the value under
        ``prep.labels``), NaN on padding."""
        out = self.candidate_outputs(prep, cands, users)
        return V.value(prep, out, cands.items) if self.signals_mode else out

    def candidate_outputs(self, prep: Prepared, cands: RankedLists, users: np.ndarray | None = None) -> np.ndarray:
        """float32 raw outputs of each candidate, (n_rows, K) or (n_rows, K, 5), NaN on padding; one predict
        per chunk of users."""
        row_users = _row_users(cands, users)
        out = np.full((*cands.items.shape, *self._width()), np.nan, np.float32)
        for lo in range(0, len(row_users), CHUNK_USERS):
            part = RankedLists(cands.items[lo:lo + CHUNK_USERS], cands.scores[lo:lo + CHUNK_USERS])
            X, u, i, mask = self.features_for(prep, part, row_users[lo:lo + CHUNK_USERS])
            if len(X):
                block = out[lo:lo + CHUNK_USERS]
                block[mask] = self._predict(X, self._serving_margin(prep, u.astype(np.int64), i.astype(np.int64)))
        return out

    def rank(self, prep: Prepared, cands: RankedLists, users: np.ndarray | None = None) -> RankedLists:
        """Candidates re-ordered by stage-2 score, the top ``config.top_n`` kept."""
        return order_rows(cands.items, self.score(prep, cands, users), keep=self.config.top_n)

    def contributions(self, prep: Prepared, cands: RankedLists, user_pos: int) -> pd.DataFrame:
        """One user's candidates: SHAP value per feature + 'bias' (summing to 'margin'), then the values."""
        row_users = _row_users(cands, None)
        row = np.flatnonzero(row_users == user_pos)
        if not len(row):
            raise ValueError(f"user position {user_pos} has no row in these candidate lists")
        one = RankedLists(cands.items[row[:1]], cands.scores[row[:1]])
        X, users, items, _ = self.features_for(prep, one, row_users[row[:1]])
        booster = self.model_.get_booster()
        start = self._serving_margin(prep, users.astype(np.int64), items.astype(np.int64))
        dm = xgb.DMatrix(X, feature_names=booster.feature_names, missing=np.nan,  # XGBoost's own (safe) names
                         base_margin=None if start is None else start[:, 0])  # the click head's GLM start
        rounds = (0, self.best_iteration_ + 1)
        contrib = booster.predict(dm, pred_contribs=True, iteration_range=rounds)
        margin = booster.predict(dm, output_margin=True, iteration_range=rounds)
        index = pd.Index(prep.dataset.content[S.CONTENT_ID].to_numpy()[items], name=S.CONTENT_ID)
        parts = pd.DataFrame(contrib, index=index, columns=[*self.feature_names_, "bias"])
        parts["margin"] = margin
        values = pd.DataFrame(X, index=index, columns=[f"{n}_value" for n in self.feature_names_])
        return pd.concat([parts, values], axis=1)


def curve_key(signal: str, log_key: str) -> str:
    """The name of one signal model's live metric in progress logs: ``"p_click/valid-logloss"``."""
    return f"{signal}/{log_key}"


def signal_curves(curves: dict[str, list[float]], which: str = "valid") -> dict[str, list[float]]:
    """From live progress curves (``curve_key`` names), each signal model's own loss on ``which`` set (the last
    metric it logs: the one early stopping watches); {} when the curves are not per signal."""
    out: dict[str, list[float]] = {}
    for name in V.NAMES:
        mine = [k for k in curves if k.startswith(f"{name}/{which}-")]
        if mine:
            out[name] = list(curves[mine[-1]])
    return out


def xgb_feature_names(names) -> list[str]:
    """Names XGBoost accepts for these features, one to one: '[', ']' and '<' (which XGBoost refuses)
    become '(', ')' and 'lt'; a name made equal to an earlier one by that gets '#<column>' appended."""
    out: list[str] = []
    seen: set[str] = set()
    for j, name in enumerate(names):
        safe = str(name).replace("[", "(").replace("]", ")").replace("<", "lt")
        while safe in seen:
            safe = f"{safe}#{j}"
        seen.add(safe)
        out.append(safe)
    return out


def _rows(margin: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    return None if margin is None else margin[rows]


def _output(model: xgb.XGBModel, X: np.ndarray, ranking: bool) -> np.ndarray:
    """The stage-2 score: the ranker's margin, or the classifier's probability of a positive."""
    if not len(X):
        return np.zeros(0, np.float32)
    p = model.predict(X) if ranking else model.predict_proba(X)[:, 1]
    return np.asarray(p, dtype=np.float32)


def _row_users(cands: RankedLists, users: np.ndarray | None) -> np.ndarray:
    """The user position of each candidate row: given, carried by the lists, or the row number."""
    if users is not None:
        return np.asarray(users, np.int64)
    carried = getattr(cands, "user_pos", None)
    return np.asarray(carried, np.int64) if carried is not None else np.arange(cands.items.shape[0])


def _check_trainable(table: TrainingTable, objective: str, valid: bool = True) -> None:
    """Refuse data XGBoost cannot learn from, with the reason in words."""
    if len(table) == 0:
        raise TrainingError("stage 2's training table is empty: no training interaction became a target row")
    n_users = len(np.unique(table.user_pos))
    if valid and n_users < 2:
        raise TrainingError(f"stage 2 needs target rows from at least 2 users (one to validate on), "
                            f"got {n_users}")
    fit_rows = ~table.is_valid if valid else np.ones(len(table), bool)
    y, u = table.y[fit_rows], table.user_pos[fit_rows]
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
        kind = "positive" if n_pos == 0 else "negative"
        raise TrainingError(f"stage 2's training rows contain no {kind} label ({len(y)} rows, "
                            f"{n_pos} positive): change the label threshold or weights, or use more data")
    if objective.startswith("rank:"):
        pos = np.bincount(u, weights=y, minlength=int(u.max()) + 1)
        cnt = np.bincount(u, minlength=int(u.max()) + 1)
        if not ((pos > 0) & (pos < cnt)).any():
            raise TrainingError("the ranking objective needs a user with both a positive and a negative "
                                "target row; none has both (use objective 'binary:logistic' or more data)")
