"""Per-user and funnel views of a run: what the dashboard's tables and charts are built from.

Pure functions of the prepared data and the stages' ranked lists; no training happens here.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from ranking.config import PipelineConfig
from ranking.data import schema as S
from ranking.evaluation.feed import age_text
from ranking.names import SHORT
from ranking.prep.lists import PAD, RankedLists
from ranking.prep.split import ITEM_POS, USER_POS, Prepared

SAMPLE_USERS = 2000  # eligibility is averaged over at most this many users before stage 1 is trained


def funnel_counts(prep: Prepared, cfg: PipelineConfig, candidates=None) -> dict[str, float]:
    """Average items per user at each step: catalog → eligible → candidates → top N → final M."""
    if candidates is not None:
        eligible = float(np.mean(candidates.n_eligible))
        k = float(np.mean(candidates.lengths))
    else:
        users = np.linspace(0, prep.n_users - 1, min(prep.n_users, SAMPLE_USERS)).astype(np.int64)
        mask, _ = prep.eligible(np.unique(users), cfg.stage1)
        eligible = float(mask.sum(axis=1).mean())
        k = float(min(cfg.stage1.resolved_k(prep.n_items), eligible))
    top_n = min(float(cfg.stage2.top_n), k)
    return {"Catalog": float(prep.n_items), "Eligible": round(eligible, 1), "Stage 1 candidates": round(k, 1),
            "Stage 2 top N": round(top_n, 1), "Final": round(min(float(cfg.post.m), top_n), 1)}


def item_frame(prep: Prepared) -> pd.DataFrame:
    """Content attributes by item position (for hover text and tables): the headline when the data has
    one, and each item's age in days at serving time."""
    c = prep.dataset.content
    headline = {S.TITLE: c[S.TITLE].fillna("").astype(str).to_numpy()} if S.TITLE in c.columns else {}
    return pd.DataFrame({
        S.CONTENT_ID: c[S.CONTENT_ID].to_numpy(),
        **headline,
        S.TOPIC: c[S.TOPIC].astype(str).to_numpy(),
        S.PUBLISHER: c[S.PUBLISHER].astype(str).to_numpy(),
        # the Feed's wording ("5 h", "2.5 d"): "0.100" days here and "1 h old" there read as different items
        "age": [age_text(h) for h in prep.item_age_days * 24.0],
        "quality": c[S.QUALITY].to_numpy(dtype=np.float64),
        "restriction": c[S.RESTRICTION].astype(str).to_numpy(),
    })


def user_lists(lists: dict[str, RankedLists], user_pos: int) -> pd.DataFrame:
    """Long frame for one user: item_pos, stage, rank, score — every stage that has a list."""
    frames = []
    for stage, lst in lists.items():
        items, scores = lst.items[user_pos], lst.scores[user_pos]
        keep = items != PAD
        frames.append(pd.DataFrame({"item_pos": items[keep], "stage": stage,
                                    "rank": np.nonzero(keep)[0] + 1, "score": scores[keep].astype(float)}))
    if not frames:
        return pd.DataFrame(columns=["item_pos", "stage", "rank", "score"])
    return pd.concat(frames, ignore_index=True)


def user_table(prep: Prepared, lists: dict[str, RankedLists], user_pos: int) -> pd.DataFrame:
    """One row per item in the user's stage-1 list: attributes, rank and score per stage, movement.

    ``Δ rank`` columns are positive when the item moved up (towards rank 1). Adds the item's
    true expected score under the run's label when the world has a truth, and the held-out label when the
    user engaged with it after the split.
    """
    long = user_lists(lists, user_pos)
    if long.empty:  # nothing eligible for this user: an empty table the pages can still show
        return pd.DataFrame(columns=["item_pos", *item_frame(prep).columns])
    wide_rank = long.pivot_table(index="item_pos", columns="stage", values="rank", aggfunc="first")
    wide_score = long.pivot_table(index="item_pos", columns="stage", values="score", aggfunc="first")
    stages = [s for s in lists if s in wide_rank.columns]
    items = item_frame(prep)
    out = items.iloc[wide_rank.index.to_numpy()].reset_index(drop=True)
    out.insert(0, "item_pos", wide_rank.index.to_numpy())
    for s in stages:
        out[f"rank {SHORT.get(s, s)}"] = wide_rank[s].to_numpy()
    for a, b in itertools.pairwise(stages):
        name = f"Δ {SHORT.get(a, a)}→{SHORT.get(b, b)}"
        out[name] = wide_rank[a].to_numpy() - wide_rank[b].to_numpy()
    for s in stages:
        out[f"score {SHORT.get(s, s)}"] = wide_score[s].to_numpy()
    if prep.dataset.truth is not None:
        truth, who = prep.dataset.truth, np.array([user_pos])
        # the expected compound score under the run's label (a truth without signals: its own rows)
        row = truth.gain(who, prep.labels)[0] if hasattr(truth, "gain") and prep.labels else truth.rows(who)[0]
        out["true expected score"] = row[out["item_pos"].to_numpy()]
    test = prep.test
    mine = test[test[USER_POS].to_numpy() == user_pos]
    held = mine.groupby(ITEM_POS)[S.LABEL].max()
    out["held-out label"] = held.reindex(out["item_pos"].to_numpy()).to_numpy()
    last = f"rank {SHORT.get(stages[-1], stages[-1])}"
    first = f"rank {SHORT.get(stages[0], stages[0])}"
    return out.sort_values([last, first], na_position="last", kind="stable").reset_index(drop=True)


def bump_frame(prep: Prepared, lists: dict[str, RankedLists], user_pos: int,
               max_rank: int = 30) -> pd.DataFrame:
    """Long frame for the bump chart: items that reach the second stage's list or start in the top ranks."""
    long = user_lists(lists, user_pos)
    if long.empty:
        return long
    stages = list(lists)
    later = long[long["stage"] != stages[0]]["item_pos"].unique()
    early = long[(long["stage"] == stages[0]) & (long["rank"] <= max_rank)]["item_pos"].unique()
    keep = np.union1d(later, early)
    long = long[long["item_pos"].isin(keep)].copy()
    items = item_frame(prep)
    for col in (S.CONTENT_ID, S.TOPIC, S.PUBLISHER):
        long[col] = items[col].to_numpy()[long["item_pos"].to_numpy()]
    long["stage"] = pd.Categorical(long["stage"], categories=stages, ordered=True)
    return long.reset_index(drop=True)


def movers(lists: dict[str, RankedLists], per_user_change: np.ndarray | None = None) -> dict[str, int]:
    """Shortcut users: the biggest mover (rank changes first → last stage) and most improved/degraded.

    ``per_user_change`` is a per-user metric change (e.g. oracle NDCG final − stage 1); NaN = not counted.
    """
    stages = list(lists)
    out: dict[str, int] = {}
    if len(stages) >= 2:
        a, b = lists[stages[0]], lists[stages[-1]]
        move = np.zeros(a.items.shape[0], np.int64)
        for lo in range(0, len(move), 2048):
            ai, bi = a.items[lo:lo + 2048], b.items[lo:lo + 2048]
            same = (bi[:, :, None] == ai[:, None, :]) & (bi[:, :, None] != PAD)
            found = same.any(axis=2)
            rank_a = same.argmax(axis=2)
            shift = np.abs(rank_a - np.arange(bi.shape[1])[None, :])
            move[lo:lo + 2048] = np.where(found, shift, 0).sum(axis=1)
        out["biggest mover"] = int(np.argmax(move))
    if per_user_change is not None and np.isfinite(per_user_change).any():
        out["most improved"] = int(np.nanargmax(per_user_change))
        out["most degraded"] = int(np.nanargmin(per_user_change))
    return out


def sankey_flows(prep: Prepared, cfg: PipelineConfig, lists: dict[str, RankedLists],
                 user_pos: int | None = None) -> pd.DataFrame:
    """source → target → value of the funnel, for one user or summed over all users."""
    users = np.arange(prep.n_users) if user_pos is None else np.array([user_pos])
    n_cat = prep.n_items * len(users)
    mask, removed = prep.eligible(users, cfg.stage1)
    eligible = int(mask.sum())
    rows = [("Catalog", f"Not eligible: {name}", n) for name, n in removed.items() if n]
    rows.append(("Catalog", "Eligible", eligible))
    names = {"stage1": "Stage 1 candidates", "stage2": "Stage 2 top N", "stage3": "Stage 3 order",
             "final": "Final list"}
    prev_name, prev_n = "Eligible", eligible
    for stage in ("stage1", "stage2", "final"):
        if stage not in lists:
            break
        n = int(lists[stage].lengths[users].sum())
        rows.append((prev_name, names[stage], n))
        if prev_n - n > 0:
            rows.append((prev_name, f"Dropped before {names[stage]}", prev_n - n))
        prev_name, prev_n = names[stage], n
    assert n_cat >= eligible
    return pd.DataFrame(rows, columns=["source", "target", "value"])


def recall_curve(prep: Prepared, model, ks: list[int], chunk: int = 2048) -> pd.DataFrame:
    """Recall of held-out positives among the top k eligible items, per source and k.

    Each single source ranks eligible items by its own score; "hybrid blend" by the blended
    stage-1 score. Returns columns k, recall, source (mean over users with a held-out positive).
    """
    from ranking.evaluation import evaluate as E
    from ranking.evaluation import metrics as M
    from ranking.prep.lists import top_k
    from ranking.stages.candidates import SOURCE_NAMES

    k_max = min(max(ks), prep.n_items)
    names = [*SOURCE_NAMES, "hybrid blend"]
    lists = {n: (np.full((prep.n_users, k_max), PAD, np.int32), np.full((prep.n_users, k_max), np.nan, np.float32))
             for n in names}
    for lo in range(0, prep.n_users, chunk):
        users = np.arange(lo, min(lo + chunk, prep.n_users))
        raw = model.source_scores(prep, users)
        mask, _ = prep.eligible(users, model.config)
        scored = {**raw, "hybrid blend": model.blend(prep, users)}
        for n in names:
            top = top_k(scored[n], k_max, mask)
            lists[n][0][users], lists[n][1][users] = top.items, top.scores
    test = prep.test
    pos = test[test[S.LABEL].to_numpy() == 1]
    n_rel = np.zeros(prep.n_users, np.int64)
    if len(pos):  # a (user, item) pair held out twice counts once
        uniq = np.unique(pos[USER_POS].to_numpy(np.int64) * prep.n_items + pos[ITEM_POS].to_numpy(np.int64))
        n_rel = np.bincount(uniq // prep.n_items, minlength=prep.n_users)
    rows = []
    for n in names:
        gains = E.relevance_lookup(prep, RankedLists(*lists[n]), "label")
        for k in ks:
            value, count = M.mean(M.recall(gains, min(k, k_max), n_rel))
            rows.append({"k": k, "recall": value, "source": n, "users": count})
    return pd.DataFrame(rows)
