"""Offline evaluation of ranked lists: each stage against held-out data and the truth, and each transition.

Where it sits: after every stage of the funnel (candidates → GBDT → DNN → post-processing).
Two yardsticks: *held-out* relevance (the labels/grades of each user's held-out interactions;
an unlisted or never-shown item counts 0) and, for a generated world, the *oracle* — every
item's expected compound score under the run's label weights (``prep.labels``), clipped at 0,
so oracle NDCG@k says how close a list is to the best k items eligible for that user (same
eligibility as stage 1, age limit included) and it moves with the label sliders.

Every function returns an :class:`Evaluation`: scalar ``metrics``, plain-language ``notes``
saying where the data is too small for a metric (that metric is then NaN, never a fake 0),
``per_user`` arrays (row = user position; NaN = user not counted) for transitions, and a
calibration table when model scores for held-out pairs are given. Users with an empty list
are treated as not served and excluded.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from ranking import names
from ranking.config import CandidateConfig
from ranking.data import schema as S
from ranking.evaluation import baselines as B
from ranking.evaluation import beyond as BA
from ranking.evaluation import impression as IM
from ranking.evaluation import metrics as M
from ranking.evaluation.counterfactual import counterfactual
from ranking.evaluation.result import RunEvaluation
from ranking.prep import labels as L
from ranking.prep.lists import PAD, RankedLists, top_k
from ranking.prep.split import ITEM_POS, USER_POS, Prepared

MIN_USERS = 10  # below this many users a mean over users is noise: report NaN and say so
CHUNK = 2048  # users per chunk when touching n_items-wide rows (truth, eligibility)
TIE_TOL = 1e-9  # NDCG changes smaller than this are float noise, counted as unchanged
KINDS = ("label", "grade")


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Scalar metrics, notes on what could not be measured, per-user arrays and a calibration table."""

    stage: str
    metrics: dict[str, float]
    notes: tuple[str, ...] = ()
    per_user: dict[str, np.ndarray] = field(default_factory=dict)
    calibration: pd.DataFrame | None = None


@dataclass(frozen=True, eq=False)
class _HeldOut:
    """Held-out (user, item) pairs, deduplicated (max label/grade), sorted by key = user·n_items + item."""

    keys: np.ndarray
    label: np.ndarray
    grade: np.ndarray
    n_items: int

    @property
    def user(self) -> np.ndarray:
        return self.keys // self.n_items


def _held_out(prep: Prepared) -> _HeldOut:
    test = prep.test
    keys = test[USER_POS].to_numpy(np.int64) * prep.n_items + test[ITEM_POS].to_numpy(np.int64)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    uniq, start = np.unique(keys, return_index=True)
    label = test[S.LABEL].to_numpy(np.float32)[order]
    grade = test[S.GRADE].to_numpy(np.float32)[order]
    if len(keys):
        label, grade = np.maximum.reduceat(label, start), np.maximum.reduceat(grade, start)
    return _HeldOut(uniq, label, grade, prep.n_items)


def _check_rows(prep: Prepared, lists: RankedLists) -> None:
    if lists.items.shape[0] != prep.n_users:
        raise ValueError(f"ranked lists have {lists.items.shape[0]} rows, not one per user ({prep.n_users})")


def _find(held: _HeldOut, keys: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index into held-out pairs for each key, and whether it is there."""
    if not len(held.keys):
        return np.zeros(keys.shape, np.int64), np.zeros(keys.shape, bool)
    pos = np.minimum(np.searchsorted(held.keys, keys), len(held.keys) - 1)
    return pos, valid & (held.keys[pos] == keys)


def _lookup(held: _HeldOut, items: np.ndarray, *values: np.ndarray) -> list[np.ndarray]:
    """Held-out values of each listed item (0 if not held out, NaN for padding), one array per ``values``."""
    pad = items == PAD
    pos, found = _find(held, np.arange(items.shape[0], dtype=np.int64)[:, None] * held.n_items + items, ~pad)
    return [np.where(pad, np.nan, np.where(found, v[pos] if len(v) else 0.0, 0.0)).astype(np.float32)
            for v in values]


def relevance_lookup(prep: Prepared, lists: RankedLists, kind: str = "label") -> np.ndarray:
    """Held-out label or grade of every listed item for its user (0 if not held out; NaN = padding)."""
    if kind not in KINDS:
        raise ValueError(f"unknown relevance kind {kind!r}; valid: {', '.join(KINDS)}")
    _check_rows(prep, lists)
    held = _held_out(prep)
    return _lookup(held, lists.items, held.label if kind == "label" else held.grade)[0]


def _ideal(held: _HeldOut, values: np.ndarray, n_users: int, k: int) -> np.ndarray:
    """Each user's k best held-out values (NaN padded): the ideal list's gains."""
    user = held.user
    order = np.lexsort((-values, user))
    u, v = user[order], values[order]
    counts = np.bincount(u, minlength=n_users)
    slot = np.arange(len(u)) - (np.cumsum(counts) - counts)[u]
    keep = slot < k
    out = np.full((n_users, k), np.nan, np.float32)
    out[u[keep], slot[keep]] = v[keep]
    return out


def _gather(rows: np.ndarray, items: np.ndarray) -> np.ndarray:
    return np.where(items == PAD, np.nan, np.take_along_axis(rows, np.maximum(items, 0), axis=1))


def _random_chunk(rng: np.random.Generator, mask: np.ndarray, k: int) -> RankedLists:
    """k eligible items per row in uniformly random order."""
    return top_k(rng.random(mask.shape, dtype=np.float32), k, mask)


def _pass(prep: Prepared, lists: list[RankedLists], cand_config: CandidateConfig, k: int,
          seed: int | None = None, truth: bool = True
          ) -> tuple[list[np.ndarray], np.ndarray | None, RankedLists | None]:
    """One chunked pass over users: the truth of every listed item, each user's best k eligible truth
    values, and (``seed`` given) random lists, whose truth is appended last to the gains.

    Truth rows and eligibility are n_items wide and the slowest part of evaluation, so every
    stage and the baseline share one pass.
    """
    source = prep.dataset.truth if truth else None
    oracle_rows = _oracle_rows(prep, source) if source is not None else None
    n_users, kk = prep.n_users, min(k, prep.n_items)
    rand = None
    if seed is not None:
        rng = np.random.default_rng(seed)
        rand = RankedLists(np.full((n_users, kk), PAD, np.int32), np.full((n_users, kk), np.nan, np.float32))
    every = [*lists, rand] if rand is not None else list(lists)
    gains = [np.full(lst.items.shape, np.nan, np.float32) for lst in every]
    ideal = np.full((n_users, kk), np.nan, np.float32) if source is not None else None
    for lo in range(0, n_users, CHUNK):
        users = np.arange(lo, min(lo + CHUNK, n_users))
        mask, _ = prep.eligible(users, cand_config)
        if rand is not None:
            chunk = _random_chunk(rng, mask, kk)
            rand.items[users], rand.scores[users] = chunk.items, chunk.scores
        if source is None:
            continue
        rows = np.asarray(oracle_rows(users), dtype=np.float32)
        for g, lst in zip(gains, every, strict=True):
            g[users] = _gather(rows, lst.items[users])
        neg = -rows
        neg[~mask] = np.inf
        best = np.sort(np.partition(neg, kk - 1, axis=1)[:, :kk], axis=1)
        ideal[users] = np.where(np.isinf(best), np.nan, -best)
    return gains, ideal, rand


def _oracle_rows(prep: Prepared, source):
    """Truth rows for the oracle: max(expected compound score under the run's label, 0) when the truth
    knows its signals (``gain``), else the truth's own rows. Dwell is normalised as the label does."""
    if prep.labels is None or not hasattr(source, "gain"):
        return source.rows
    dwell_norm = L.expected_dwell_per_item(prep.interactions, prep.dataset.content, prep.labels)
    return lambda users: np.maximum(source.gain(users, prep.labels, dwell_norm), np.float32(0.0))


def oracle_gains(prep: Prepared, lists: RankedLists, cand_config: CandidateConfig,
                 k: int) -> tuple[np.ndarray, np.ndarray]:
    """True engagement of each listed item (n_users, L) and each user's best k eligible items (n_users, k)."""
    if prep.dataset.truth is None:
        raise ValueError("this dataset has no ground truth (only generated worlds do)")
    _check_rows(prep, lists)
    gains, ideal, _ = _pass(prep, [lists], cand_config, k)
    return gains[0], ideal


def evaluate_stage(prep: Prepared, lists: RankedLists, *, k: int, cand_config: CandidateConfig, stage: str,
                   pair_scores: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                   oracle: tuple[np.ndarray, np.ndarray] | None = None) -> Evaluation:
    """Held-out ranking metrics @k, recall of the whole list, oracle NDCG@k, diversity, coverage, and
    (with ``pair_scores`` = (user_pos, item_pos, score) for held-out pairs) AUC, log-loss and calibration.

    ``oracle``: this list's (gains, ideal) from :func:`oracle_gains`, when already computed.
    """
    _check_rows(prep, lists)
    held = _held_out(prep)
    n_users, width = prep.n_users, lists.width
    served = lists.lengths > 0
    label, grade = _lookup(held, lists.items, held.label, held.grade)
    n_pos = np.where(served, np.bincount(held.user, weights=held.label > 0, minlength=n_users), 0)
    n_graded = np.where(served, np.bincount(held.user, weights=held.grade > 0, minlength=n_users), 0)
    notes: list[str] = []
    per_user = {
        names.at("ndcg", k): np.where(n_pos > 0, M.ndcg(label, _ideal(held, held.label, n_users, k), k), np.nan),
        names.at("precision", k): M.precision(label, k, n_pos),
        names.at("recall", k): M.recall(label, k, n_pos),
        names.at("map", k): M.average_precision(label, k, n_pos),
        names.at("mrr", k): M.reciprocal_rank(label, k, n_pos),
        names.at("hit", k): M.hit_rate(label, k, n_pos),
        names.at("recall", width): M.recall(label, None, n_pos),
    }
    n_eval = int((n_pos > 0).sum())
    missed = int(np.bincount(held.user[held.label > 0], minlength=n_users).astype(bool).sum()) - n_eval
    if missed:
        notes.append(f"{stage}: {missed} users with held-out positives have an empty list; not scored.")
    if n_eval < MIN_USERS:
        notes.append(f"{stage}: only {n_eval} users have held-out positives (< {MIN_USERS}); "
                     "held-out ranking metrics would be noise and are left out (NaN).")
    metrics = {name: M.mean(v)[0] if n_eval >= MIN_USERS else float("nan") for name, v in per_user.items()}
    graded = names.at("ndcg", k) + "_graded"
    ideal_grade = _ideal(held, held.grade, n_users, k)
    per_user[graded] = np.where(n_graded > 0, M.ndcg(grade, ideal_grade, k), np.nan)
    metrics[graded], n_users_graded = M.mean(per_user[graded])
    if n_users_graded < MIN_USERS:
        metrics[graded] = float("nan")
        if n_eval >= MIN_USERS:
            notes.append(f"{stage}: only {n_users_graded} users have graded held-out items; no graded NDCG.")
    metrics["n_users_evaluated"] = n_eval

    if prep.dataset.truth is None:
        metrics[names.at("oracle_ndcg", k)] = float("nan")
        notes.append("No ground truth (real data), so no oracle NDCG.")  # same for every stage: deduplicated
    else:
        gains, ideal = oracle if oracle is not None else oracle_gains(prep, lists, cand_config, k)
        per_user[names.at("oracle_ndcg", k)] = np.where(served, M.ndcg(gains, ideal, k, form="linear"), np.nan)
        metrics[names.at("oracle_ndcg", k)], metrics["n_users_oracle"] = M.mean(per_user[names.at("oracle_ndcg", k)])

    head = lists.items[:, :k]
    topics = np.where(head == PAD, -1, prep.item_topic[np.maximum(head, 0)])
    metrics[names.at("diversity", k)] = M.mean(M.diversity(topics))[0]
    metrics[names.at("coverage", k)] = M.coverage(head, prep.n_items)
    calib = None
    if pair_scores is not None:
        calib = _classification(held, pair_scores, stage, metrics, notes)
    return Evaluation(stage, metrics, tuple(notes), per_user, calib)


def _classification(held: _HeldOut, pair_scores: tuple[np.ndarray, np.ndarray, np.ndarray], stage: str,
                    metrics: dict[str, float], notes: list[str]) -> pd.DataFrame | None:
    """AUC, log-loss, ECE and the calibration table of scores for held-out pairs (fills metrics/notes)."""
    u, i, s = (np.asarray(a) for a in pair_scores)
    keys = u.astype(np.int64) * held.n_items + i.astype(np.int64)
    pos, found = _find(held, keys, np.ones(len(keys), bool))
    if (~found).any():
        notes.append(f"{stage}: {int((~found).sum())} scored pairs are not held-out interactions; ignored.")
    y, s = held.label[pos[found]], s[found].astype(np.float64)
    metrics["n_pairs"] = len(y)
    metrics["auc"] = M.auc(y, s)
    if np.isnan(metrics["auc"]):
        notes.append(f"{stage}: held-out pairs hold a single class ({len(y)} pairs); AUC is undefined.")
    metrics["logloss"] = metrics["ece"] = float("nan")
    if not len(y):
        return None
    if not (np.isfinite(s).all() and s.min() >= 0 and s.max() <= 1):
        notes.append(f"{stage}: scores are not probabilities (a value Σ weight × prediction, or ranking margins); "
                     "log-loss and calibration need probabilities.")
        return None
    metrics["logloss"] = M.log_loss(y, s)
    metrics["ece"] = M.ece(y, s)
    return M.calibration(y, s)


def _positions(a: np.ndarray, b: np.ndarray, n_items: int) -> np.ndarray:
    """Rank (column) in ``a`` of every item of ``b``, row by row; NaN where absent or padding."""
    rows = np.arange(a.shape[0], dtype=np.int64)[:, None]
    key_a = (rows * n_items + a)[a != PAD]
    col_a = np.broadcast_to(np.arange(a.shape[1]), a.shape)[a != PAD]
    order = np.argsort(key_a)
    key_a, col_a = key_a[order], col_a[order]
    key_b = rows * n_items + b
    if not len(key_a):
        return np.full(b.shape, np.nan)
    pos = np.minimum(np.searchsorted(key_a, key_b), len(key_a) - 1)
    found = (b != PAD) & (key_a[pos] == key_b)
    return np.where(found, col_a[pos], np.nan)


def compare_stages(prep: Prepared, a: RankedLists, b: RankedLists, per_user_ndcg_a: np.ndarray,
                   per_user_ndcg_b: np.ndarray, *, stage: str = "a→b") -> Evaluation:
    """How stage b reorders stage a: per-user Kendall τ-b on shared items, NDCG up/down, Wilcoxon test."""
    _check_rows(prep, a)
    _check_rows(prep, b)
    rank_a = _positions(a.items, b.items, prep.n_items)
    rank_b = np.where(b.items != PAD, np.arange(b.width, dtype=np.float64), np.nan)
    tau = M.kendall_tau(rank_a, rank_b)
    notes: list[str] = []
    metrics: dict[str, float] = {}
    metrics["kendall_tau"], metrics["n_users_tau"] = M.mean(tau)

    na, nb = np.asarray(per_user_ndcg_a, np.float64), np.asarray(per_user_ndcg_b, np.float64)
    d = np.where(np.isnan(na) | np.isnan(nb), np.nan, nb - na)
    paired = d[~np.isnan(d)]
    n = len(paired)
    changed = paired[np.abs(paired) > TIE_TOL]
    metrics["n_users_paired"] = n
    metrics["ndcg_change"] = float(paired.mean()) if n else float("nan")
    for name, hit in (("improved", paired > TIE_TOL), ("degraded", paired < -TIE_TOL),
                      ("unchanged", np.abs(paired) <= TIE_TOL)):
        metrics[name] = float(hit.mean()) if n else float("nan")
    metrics["wilcoxon_stat"] = metrics["wilcoxon_p"] = float("nan")
    if n < MIN_USERS:
        notes.append(f"{stage}: only {n} users have NDCG at both stages (< {MIN_USERS}); no test.")
    elif not len(changed):
        notes.append(f"{stage}: NDCG is unchanged for every user; the signed-rank test has nothing to rank.")
    elif len(changed) < MIN_USERS:
        notes.append(f"{stage}: NDCG changed for only {len(changed)} users (< {MIN_USERS}); "
                     "too few for a signed-rank test.")
    else:
        try:
            res = wilcoxon(changed)
            metrics["wilcoxon_stat"], metrics["wilcoxon_p"] = float(res.statistic), float(res.pvalue)
        except ValueError as exc:  # scipy refuses degenerate samples; say why instead of failing
            notes.append(f"{stage}: Wilcoxon test not possible: {exc}")
    return Evaluation(stage, metrics, tuple(notes), {"kendall_tau": tau, "ndcg_change": d})


def random_lists(prep: Prepared, k: int, cand_config: CandidateConfig, seed: int) -> RankedLists:
    """k eligible items per user in uniformly random order (deterministic per seed)."""
    return _pass(prep, [], cand_config, k, seed=seed, truth=False)[2]


def random_baseline(prep: Prepared, k: int, cand_config: CandidateConfig, seed: int) -> Evaluation:
    """The naive reference: each user gets k eligible items in random order, evaluated like a stage."""
    gains, ideal, lists = _pass(prep, [], cand_config, k, seed=seed)
    oracle = (gains[0], ideal) if ideal is not None else None
    return evaluate_stage(prep, lists, k=k, cand_config=cand_config, stage="random", oracle=oracle)


def evaluate_pipeline(prep: Prepared, lists: dict[str, RankedLists], *, k: int, cand_config: CandidateConfig,
                      pair_scores: dict[str, tuple | None] | None = None, seed: int = 0,
                      outs: Mapping[str, object] | None = None,
                      impression_scores: Callable[[list[str]], dict[str, np.ndarray]] | None = None,
                      reward_pairs: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> RunEvaluation:
    """Every list, every consecutive transition, the random and reference baselines (``outs`` = the stage
    outputs they need), beyond-accuracy metrics, counterfactual estimates (``reward_pairs``: DR's reward model,
    default the GLM) and per-impression metrics (``impression_scores``: names → one score per held-out row).

    Transitions compare oracle NDCG@k when the world has a truth (every served user counts), else
    held-out NDCG@k.
    """
    pair_scores = pair_scores or {}
    for lst in lists.values():
        _check_rows(prep, lst)
    refs, ref_notes = B.baseline_lists(prep, outs, cand_config, list(lists.values())[-1].width, seed) \
        if outs is not None else ({}, ())
    stage3 = getattr((outs or {}).get("stage3"), "model", None)  # its guard says so when it passes stage 2 on
    ref_notes = (*ref_notes, *filter(None, [getattr(stage3, "guard_note", lambda: "")()]))
    gains, ideal, rand = _pass(prep, [*lists.values(), *refs.values()], cand_config, k, seed=seed)
    oracles = [(g, ideal) if ideal is not None else None for g in gains]
    evals = {name: evaluate_stage(prep, lst, k=k, cand_config=cand_config, stage=name,
                                  pair_scores=pair_scores.get(name), oracle=o)
             for (name, lst), o in zip({**lists, **refs}.items(), oracles, strict=False)}
    base = evaluate_stage(prep, rand, k=k, cand_config=cand_config, stage="random", oracle=oracles[-1])
    popularity, history = B.item_popularity(prep), BA.topic_history(prep)
    for name, lst in {**lists, **refs}.items():
        evals[name].metrics.update(BA.beyond_accuracy(prep, lst.items, k, popularity, history))
    ref_evals = {name: evals.pop(name) for name in refs}
    refs_eval = {name: e.metrics for name, e in ref_evals.items()}
    basis = names.at("oracle_ndcg", k) if ideal is not None else names.at("ndcg", k)
    transitions = {}
    for a, b in itertools.pairwise(lists):
        transitions[f"{a}→{b}"] = compare_stages(prep, lists[a], lists[b], evals[a].per_user[basis],
                                                 evals[b].per_user[basis], stage=f"{a}→{b}")
    notes_age = () if cand_config.max_age_days <= 0 or prep.age_limit_applies(cand_config) else (
        f"every item is older than the age limit ({cand_config.max_age_days:g} days) at serving time (the newest "
        f"is {float(prep.item_age_days.min()) if prep.n_items else 0.0:,.0f} days old), so the limit was not applied",)
    every = [*evals.values(), *transitions.values(), base]
    every_list = {n: e.metrics for n, e in evals.items()} | refs_eval
    glm = B.fitted_glm(prep, outs, seed) if outs is not None and reward_pairs is None else None
    truth = {n: m[names.at("oracle_ndcg", k)] for n, m in every_list.items()} if ideal is not None else None
    cf = counterfactual(prep, {**lists, **refs}, k, truth, {n: m[names.at("ndcg", k)] for n, m in every_list.items()},
                        tuple(lists), glm, reward_pairs, seed)
    scored = [n for n in lists if pair_scores.get(n) is not None] + list(refs)
    impressions = IM.impression_report(prep, impression_scores(scored) if impression_scores else {}, seed,
                                       not_scored=[n for n in lists if n not in scored])
    return RunEvaluation(
        k=k, basis=basis, impressions=impressions,
        stages={n: e.metrics for n, e in evals.items()},
        transitions={n: t.metrics for n, t in transitions.items()},
        baseline=base.metrics,
        notes=(*notes_age, *ref_notes, *dict.fromkeys(note for e in every for note in e.notes)),
        calibration={n: e.calibration for n, e in evals.items() if e.calibration is not None},
        per_user={e.stage: e.per_user for e in [*every, *ref_evals.values()]},  # baselines too (seed study)
        baselines=refs_eval, counterfactual=cf,
    )
