"""Reference rankers every run is measured against: two popularities, two hand rules, a GLM, logistic regression.

Where it sits: beside the funnel, inside evaluation. A learned stage earns its place only when it
beats these simple lists on the same metrics, so each one is evaluated exactly like a stage list.

- ``popularity``: every eligible item (stage 1's eligibility: region, blocklist, already seen, age
  limit) ordered by training popularity (:func:`item_popularity`), the same list for everyone.
- ``smoothed_ctr``: eligible items ordered by their training click-through rate, smoothed toward the global
  rate with ``CTR_PRIOR`` pseudo-impressions (an item shown twice and clicked once is not a 50 % item).
- ``heuristic``: eligible items ordered by the user's stated affinity for the item's topic plus
  the item's ``quality_score`` (a plain sum, nothing fitted; a topic the user states nothing
  about counts 0).
- ``freshness``: the heuristic minus β × the item's age in days at serving. β is the one fitted number: a
  logistic regression of the training log's clicks on (affinity + quality, age at the impression), and
  β = −(age coefficient) / (affinity + quality coefficient), so the age penalty is on the heuristic's scale.
- ``glm``: the per-signal GLM of ``ranking.stages.glm`` (logistic for click, share and hide, Poisson for dwell
  and comments, over stated affinity, quality, age, topic and publisher one-hots, the user's and the
  user × topic smoothed click rates and the slot), combined with the current label weights like the value
  model: a weight move re-ranks it without refitting.
- ``logreg``: scikit-learn logistic regression (standardised features, missing values imputed
  with the column mean, fixed ``random_state``) fitted on stage 2's training table (features and
  binary label), scoring stage 1's candidates with stage 2's features; it keeps stage 2's top N.

A baseline whose score is the same for every item of every user (stated affinities all 0.5 and one quality
score, as in an import of MIND) cannot rank: it is left out with a note saying it is not informative on this
data. Ties break by item position through ``ranking.prep.lists`` (the one tie rule).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Mapping

import numpy as np

from ranking.config import CandidateConfig
from ranking.data import schema as S
from ranking.prep.lists import PAD, RankedLists, order_rows, top_k
from ranking.prep.split import ITEM_POS, USER_POS, Prepared

BASELINES = ("popularity", "smoothed_ctr", "heuristic", "freshness", "glm", "logreg")
TITLES = {"popularity": "Popularity (click count)", "smoothed_ctr": "Popularity (smoothed CTR)",
          "heuristic": "Affinity + quality heuristic", "freshness": "Freshness heuristic",
          "glm": "Per-signal GLM", "logreg": "Logistic regression"}
CTR_PRIOR = 5.0  # pseudo-impressions at the global click rate in the smoothed CTR
CHUNK = 2048  # users per chunk of n_items-wide score rows
LOGREG_C = 1.0  # sklearn's default inverse regularisation, stated so the docs can name it
LOGREG_MAX_ITER = 500
# stage-2 output → (prepared data, stage-1 lists, seed, lists): a re-evaluation after a post-processing or
# cut-off change reuses the fitted baseline instead of refitting it; entries go when the stage output does
_LOGREG_MEMO: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_FEATURES_MEMO: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOGREG_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # stage-2 model → (prep, seed, fit)
_GLM_MEMO: dict[int, tuple] = {}  # id(prep.seen) (one split) → fitted baseline models
FEATURES_MEMO_BYTES = 64 * 2**20  # serving features kept per stage-2 model up to this size (else recomputed)


def item_popularity(prep: Prepared) -> np.ndarray:
    """Share of users with a label-positive training interaction on each item (float64, n_items).

    One definition for the popularity baseline, novelty and popularity bias; held-out rows never count.
    """
    train = prep.train
    pos = train[train[S.LABEL].to_numpy() > 0]
    keys = np.unique(pos[USER_POS].to_numpy(np.int64) * prep.n_items + pos[ITEM_POS].to_numpy(np.int64))
    counts = np.bincount(keys % prep.n_items, minlength=prep.n_items) if prep.n_items else np.zeros(0)
    return counts / max(prep.n_users, 1)


def smoothed_ctr(prep: Prepared, strength: float = CTR_PRIOR) -> np.ndarray:
    """Each item's training click-through rate, (clicks + m·global rate) / (impressions + m), float64 (n_items,)."""
    from ranking.stages.glm import clicks

    train = prep.train
    i = train[ITEM_POS].to_numpy(np.int64)
    y = clicks(train)
    prior = float(y.mean()) if len(y) else 0.0
    n = np.bincount(i, minlength=prep.n_items)
    c = np.bincount(i, weights=y, minlength=prep.n_items)
    return (c + strength * prior) / (n + strength)


def freshness_decay(prep: Prepared) -> tuple[float, str]:
    """β of the freshness heuristic and how it was fitted (see the module docstring); 0 when it cannot be fitted."""
    from sklearn.linear_model import LogisticRegression

    from ranking.prep.split import seconds
    from ranking.stages.glm import clicks

    train = prep.train
    u, i = train[USER_POS].to_numpy(np.int64), train[ITEM_POS].to_numpy(np.int64)
    y = clicks(train)
    if len(train) < 2 or y.min() == y.max():
        return 0.0, "β = 0: the training log needs clicks and non-clicks to fit the decay"
    aq = np.nan_to_num(prep.user_affinity[u, prep.item_topic[i]], nan=0.0) + prep.item_quality[i]
    age = np.maximum(seconds(train[S.EVENT_TS]) - prep.item_published_s[i], 0) / 86400.0
    X = np.column_stack([aq, age])
    sd = X.std(axis=0)
    if (sd < 1e-9).any():
        return 0.0, "β = 0: affinity + quality or the age does not vary in the training log"
    model = LogisticRegression(C=1e6, max_iter=500).fit(X / sd, y.astype(np.int64))  # ~unpenalised
    a, b = model.coef_[0] / sd
    if a <= 0:
        return 0.0, "β = 0: clicks do not rise with affinity + quality in the training log, so no scale for age"
    beta = float(max(-b / a, 0.0))
    return beta, (f"β = {beta:.3f} per day: logistic regression of the {len(y):,} training impressions' clicks on "
                  f"affinity + quality ({a:+.2f}) and age in days ({b:+.2f}); β = −age coefficient ÷ "
                  "affinity + quality coefficient")


def heuristic_scores(prep: Prepared, users: np.ndarray) -> np.ndarray:
    """Stated affinity for the item's topic (NaN → 0) + quality score: float32 (len(users), n_items)."""
    affinity = np.nan_to_num(prep.user_affinity[np.asarray(users)], nan=0.0)
    return (affinity[:, prep.item_topic] + prep.item_quality[None, :]).astype(np.float32)


def eligible_tops(prep: Prepared, cand_config: CandidateConfig, width: int,
                  scorers: Mapping[str, Callable[[np.ndarray], np.ndarray]]) -> dict[str, RankedLists]:
    """Per scorer, each user's ``width`` best eligible items by ``scorer(users)`` (dense rows).

    Chunked by user; eligibility (the costly n_items-wide mask) is computed once per chunk for all scorers.
    """
    n, w = prep.n_users, min(width, prep.n_items)
    out = {name: RankedLists(np.full((n, w), PAD, np.int32), np.full((n, w), np.nan, np.float32))
           for name in scorers}
    for lo in range(0, n, CHUNK):
        users = np.arange(lo, min(lo + CHUNK, n))
        mask, _ = prep.eligible(users, cand_config)
        for name, score_rows in scorers.items():
            part = top_k(score_rows(users), w, mask)
            out[name].items[users], out[name].scores[users] = part.items, part.scores
    return out


def _popularity_rows(prep: Prepared) -> Callable[[np.ndarray], np.ndarray]:
    pop = item_popularity(prep).astype(np.float32)
    return lambda users: np.broadcast_to(pop, (len(users), len(pop)))


def popularity_lists(prep: Prepared, cand_config: CandidateConfig, width: int) -> RankedLists:
    """Eligible items by training popularity, ties by item position."""
    return eligible_tops(prep, cand_config, width, {"popularity": _popularity_rows(prep)})["popularity"]


def heuristic_lists(prep: Prepared, cand_config: CandidateConfig, width: int) -> RankedLists:
    """Eligible items by stated topic affinity + quality score, ties by item position."""
    return eligible_tops(prep, cand_config, width,
                         {"heuristic": lambda users: heuristic_scores(prep, users)})["heuristic"]


def fit_logreg(X: np.ndarray, y: np.ndarray, seed: int):
    """Standardised, mean-imputed, L2 logistic regression (C = 1) fitted on (X, binary y)."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(SimpleImputer(strategy="mean", keep_empty_features=True), StandardScaler(),
                          LogisticRegression(C=LOGREG_C, max_iter=LOGREG_MAX_ITER, random_state=seed))
    return model.fit(np.asarray(X, np.float64), (np.asarray(y) > 0).astype(np.int64))


def logreg_model(prep: Prepared, stage2_model, seed: int):
    """The logistic-regression baseline fitted on stage 2's training table under the run's label (kept per
    stage-2 model, prepared data and seed: lists and pair scores share one fit)."""
    try:
        hit = _LOGREG_MODELS.get(stage2_model)
    except TypeError:
        hit = None
    if hit is not None and hit[0]() is prep and hit[1] == seed:
        return hit[2]
    table = stage2_model.table_
    model = fit_logreg(table.X, run_label(prep, table), seed)
    try:
        _LOGREG_MODELS[stage2_model] = (weakref.ref(prep), seed, model)
    except TypeError:
        pass
    return model


def logreg_lists(prep: Prepared, stage1: RankedLists, stage2_model, top_n: int, seed: int) -> RankedLists:
    """Stage 1's candidates re-ranked by logistic regression on stage 2's features, top ``top_n`` kept."""
    model = logreg_model(prep, stage2_model, seed)
    scores = np.full(stage1.items.shape, np.nan, np.float32)
    for users, X, mask in _serving_features(prep, stage1, stage2_model):
        if len(X):
            block = scores[users]
            block[mask] = model.predict_proba(X)[:, 1]
            scores[users] = block
    return order_rows(stage1.items, scores, keep=top_n)


def _serving_features(prep: Prepared, stage1: RankedLists, stage2_model) -> Iterator[tuple[np.ndarray, ...]]:
    """Stage 2's features of every stage-1 candidate, in user chunks: (users, X, mask). They do not depend on the
    label, so a weight or threshold move (``ranking.prep.split.relabel`` keeps the split's arrays) reuses them and
    only refits the regression. Kept per stage-2 model while the split and the stage-1 lists are the same ones,
    up to ``FEATURES_MEMO_BYTES``; beyond that, one chunk at a time is held, as without the memo."""
    try:
        hit = _FEATURES_MEMO.get(stage2_model)
    except TypeError:  # not weak-referenceable
        hit = None
    if hit is not None and hit[0]() is prep.seen and hit[1]() is stage1:
        yield from hit[2]
        return
    kept: list[tuple[np.ndarray, ...]] | None = []
    size = 0
    for lo in range(0, prep.n_users, CHUNK):
        users = np.arange(lo, min(lo + CHUNK, prep.n_users))
        part = RankedLists(stage1.items[users], stage1.scores[users])
        X, _, _, mask = stage2_model.features_for(prep, part, users=users)
        chunk = (users, np.asarray(X, np.float64), mask)
        size += chunk[1].nbytes
        if size > FEATURES_MEMO_BYTES:  # too big to keep: drop what was kept, hold one chunk at a time
            kept = None
        elif kept is not None:
            kept.append(chunk)
        yield chunk
    if kept is not None:
        try:
            _FEATURES_MEMO[stage2_model] = (weakref.ref(prep.seen), weakref.ref(stage1), kept)
        except TypeError:
            pass


def _fitted(prep: Prepared, outs: Mapping[str, object], seed: int) -> dict:
    """The fitted parts of the baselines for this split (GLM, freshness β, smoothed CTR), kept per split: a weight
    move (``relabel`` keeps ``prep.seen``) only re-combines the GLM's signals. Stage 2's own GLM is reused when
    there is one: it is the same model fitted on the same training rows."""
    stage2 = outs.get("stage2")
    glm = getattr(getattr(stage2, "model", None), "glm_", None)
    entry = _GLM_MEMO.get(id(prep.seen))
    hit = entry[1] if entry is not None and entry[0]() is prep.seen else None
    if hit is not None and hit["seed"] == seed and (glm is None or hit["glm"] is glm):
        return hit
    if glm is None:
        from ranking.stages.glm import SignalGLM

        glm = SignalGLM(seed=seed).fit(prep)
    beta, how = freshness_decay(prep)
    fitted = {"seed": seed, "glm": glm, "beta": beta, "how": how, "ctr": smoothed_ctr(prep).astype(np.float32)}
    # keyed by the id of ``prep.seen`` (a sparse matrix: weak-referenceable, not hashable), checked through a weak
    # reference; the entry goes with the matrix
    key = id(prep.seen)
    _GLM_MEMO[key] = (weakref.ref(prep.seen, lambda _ref, key=key: _GLM_MEMO.pop(key, None)), fitted)
    return fitted


def fitted_glm(prep: Prepared, outs: Mapping[str, object], seed: int):
    """The per-signal GLM the GLM baseline uses for this split (stage 2's own when there is one)."""
    return _fitted(prep, outs, seed)["glm"]


def transparent_scorers(prep: Prepared, fitted: dict) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Score rows (users × every item) of the baselines that need no stage: name → scorer(users)."""
    glm, beta, ctr = fitted["glm"], np.float32(fitted["beta"]), fitted["ctr"]
    age = prep.item_age_days.astype(np.float32)
    return {"popularity": _popularity_rows(prep),
            "smoothed_ctr": lambda users: np.broadcast_to(ctr, (len(users), len(ctr))),
            "heuristic": lambda users: heuristic_scores(prep, users),
            "freshness": lambda users: heuristic_scores(prep, users) - beta * age[None, :],
            "glm": lambda users: glm.value_rows(prep, users)}


def pair_scores(prep: Prepared, outs: Mapping[str, object], seed: int, user_pos: np.ndarray, item_pos: np.ndarray,
                names: tuple[str, ...] = BASELINES) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """Each named baseline's (score, signals or None) of arbitrary (user, item) position pairs: the numbers its
    lists are ordered by (``transparent_scorers``, ``logreg_lists``), pair by pair. The GLM also gives its
    (n, 5) signals; logistic regression needs stage 2 (left out without it)."""
    if unknown := set(names) - set(BASELINES):
        raise ValueError(f"unknown baseline(s) {sorted(unknown)}; valid: {', '.join(BASELINES)}")
    u, i = np.asarray(user_pos, np.int64), np.asarray(item_pos, np.int64)
    fitted = _fitted(prep, outs, seed)
    heuristic = (np.nan_to_num(prep.user_affinity[u, prep.item_topic[i]], nan=0.0)
                 + prep.item_quality[i]).astype(np.float32)
    out: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for name in names:
        if name == "popularity":
            out[name] = item_popularity(prep).astype(np.float32)[i], None
        elif name == "smoothed_ctr":
            out[name] = fitted["ctr"][i], None
        elif name == "heuristic":
            out[name] = heuristic, None
        elif name == "freshness":
            out[name] = heuristic - np.float32(fitted["beta"]) * prep.item_age_days.astype(np.float32)[i], None
        elif name == "glm":
            from ranking.stages.value import value

            signals = fitted["glm"].serving_signals(prep, u, i)
            out[name] = value(prep, signals, i), np.asarray(signals, np.float32)
        elif name == "logreg":
            stage2 = outs.get("stage2")
            if stage2 is None or getattr(stage2.model, "table_", None) is None:
                continue
            model = logreg_model(prep, stage2.model, seed)
            X = stage2.model.pair_features(prep, u, i) if len(u) else np.zeros((0, stage2.model.table_.X.shape[1]))
            out[name] = (model.predict_proba(np.asarray(X, np.float64))[:, 1].astype(np.float32) if len(u)
                         else np.zeros(0, np.float32)), None
    return out


def informative(lists: RankedLists) -> bool:
    """False when every user's list holds one score only: the scorer had nothing to rank by."""
    scores = lists.scores
    if not np.isfinite(scores).any():
        return False
    spread = np.nanmax(scores, axis=1) - np.nanmin(scores, axis=1)
    return bool((np.nan_to_num(spread) > 1e-6).any())


def baseline_lists(prep: Prepared, outs: Mapping[str, object], cand_config: CandidateConfig, width: int,
                   seed: int) -> tuple[dict[str, RankedLists], tuple[str, ...]]:
    """Every baseline that the trained stages allow and the data can inform, and notes on the others and on
    the fitted freshness decay.

    ``outs``: the pipeline's stage outputs (``StageOutput``); logistic regression needs stage 2.
    """
    fitted = _fitted(prep, outs, seed)
    lists = eligible_tops(prep, cand_config, width, transparent_scorers(prep, fitted))
    notes: list[str] = [f"Freshness heuristic: affinity + quality − β × age in days; {fitted['how']}."]
    for name in list(lists):
        if not informative(lists[name]):
            del lists[name]
            notes.append(f"{TITLES[name]} baseline not informative on this data: it gives every eligible item "
                         "the same score, so it is not drawn.")
    stage2 = outs.get("stage2")
    if stage2 is not None and getattr(stage2.model, "table_", None) is not None:
        table = stage2.model.table_
        if len(np.unique(run_label(prep, table))) == 2:
            lists["logreg"] = _logreg_once(prep, outs["stage1"].lists, stage2, seed)
        else:
            notes.append("Logistic regression baseline left out: stage 2's training table holds one class.")
    return lists, tuple(notes)


def run_label(prep: Prepared, table) -> np.ndarray:
    """The run's 0/1 label of stage 2's training rows. A value model's table holds clicks in ``y`` (it never
    learns the label), so the label comes from the rows' logged signals under the run's weights and threshold:
    the baseline is always the notebook's path (label, then a linear classifier)."""
    if getattr(table, "oof_signals", None) is None or prep.labels is None:
        return np.asarray(table.y) > 0
    from ranking.stages.value import value

    return value(prep, table.signals, table.item_pos) > prep.labels.threshold


def _logreg_once(prep: Prepared, stage1: RankedLists, stage2, seed: int) -> RankedLists:
    """``logreg_lists`` for this stage-2 model, computed once per (prepared data, stage-1 lists, seed); keyed by
    the model, which a re-weighted stage 2 shares with the trained one."""
    try:
        hit = _LOGREG_MEMO.get(stage2.model)
    except TypeError:  # not weak-referenceable: compute every time
        return logreg_lists(prep, stage1, stage2.model, stage2.lists.width, seed)
    if hit is not None and hit[0]() is prep and hit[1]() is stage1 and hit[2] == seed:
        return hit[3]
    lists = logreg_lists(prep, stage1, stage2.model, stage2.lists.width, seed)
    try:
        _LOGREG_MEMO[stage2.model] = (weakref.ref(prep), weakref.ref(stage1), seed, lists)
    except TypeError:
        pass
    return lists
