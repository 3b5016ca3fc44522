"""What post-processing does: the relevance/diversity trade-off over MMR λ, and one user's swaps.

Where it sits: after ``ranking.stages.postprocess``, which it calls; the Post-processing page draws
from it. ``lambda_sweep`` post-processes every user's stage-3 list once per λ (each run vectorised
over users) and scores it with the evaluation's own metrics; ``swaps`` says which items each
setting (quality floor, age limit, diversity) took out of a user's plain top M and which it let in.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from ranking import names
from ranking.config import CandidateConfig, PostConfig
from ranking.evaluation import evaluate as E
from ranking.evaluation.feed import feed_cards
from ranking.prep.lists import PAD, RankedLists
from ranking.prep.split import Prepared
from ranking.stages.postprocess import postprocess

LAMBDAS = tuple(round(x / 10, 1) for x in range(11))  # 0, 0.1, …, 1


def realign(source_items: np.ndarray, values: np.ndarray, items: np.ndarray) -> np.ndarray:
    """``values`` (aligned with ``source_items``) looked up for ``items``, a per-row subset: NaN where absent."""
    hit = (items[:, :, None] == source_items[:, None, :]) & (items[:, :, None] != PAD)
    col = hit.argmax(axis=2)
    got = np.take_along_axis(np.asarray(values, dtype=np.float64), col, axis=1)
    return np.where(hit.any(axis=2), got, np.nan)


def lambda_sweep(prep: Prepared, ranked: RankedLists, post: PostConfig, cand_config: CandidateConfig, k: int,
                 lambdas: tuple[float, ...] = LAMBDAS) -> pd.DataFrame:
    """One row per λ: MMR post-processing of ``ranked`` (the rest of ``post`` kept) scored over all users.

    Columns ``lambda``, ``relevance`` (oracle NDCG@k on a world with a truth, else held-out NDCG@k),
    ``diversity`` (Gini–Simpson topic diversity@k). ``attrs["relevance"]`` names the relevance metric key.
    """
    has_truth = prep.dataset.truth is not None
    key = names.at("oracle_ndcg" if has_truth else "ndcg", k)
    if has_truth:  # one truth pass for every λ: post-processing only picks among the stage-3 items
        gains, ideal = E.oracle_gains(prep, ranked, cand_config, k)
    rows = []
    for lam in lambdas:
        lists = postprocess(prep, ranked, replace(post, diversity="mmr", mmr_lambda=float(lam))).lists
        oracle = (realign(ranked.items, gains, lists.items).astype(np.float32), ideal) if has_truth else None
        ev = E.evaluate_stage(prep, lists, k=k, cand_config=cand_config, stage="final", oracle=oracle)
        rows.append({"lambda": float(lam), "relevance": ev.metrics[key],
                     "diversity": ev.metrics[names.at("diversity", k)]})
    out = pd.DataFrame(rows, columns=["lambda", "relevance", "diversity"])
    out.attrs["relevance"] = key
    out.attrs["diversity"] = names.at("diversity", k)
    return out


def steps(post: PostConfig) -> list[tuple[str, PostConfig]]:
    """The settings applied one after another, each as the config that includes it and those before it."""
    plain = replace(post, diversity="none", quality_floor=0.0, max_age_hours=0.0)
    out = [("Stage 3's top M", plain)]
    if post.quality_floor > 0:
        out.append((f"Quality floor ≥ {post.quality_floor:g}", replace(out[-1][1], quality_floor=post.quality_floor)))
    if post.max_age_hours > 0:
        out.append((f"Age limit ≤ {post.max_age_hours:g} h", replace(out[-1][1], max_age_hours=post.max_age_hours)))
    if post.diversity == "mmr":
        out.append((f"Diversity: MMR λ = {post.mmr_lambda:g}", post))
    elif post.diversity == "caps":
        out.append((f"Diversity: ≤ {post.max_per_topic} per topic, ≤ {post.max_per_publisher} per publisher", post))
    return out


def swaps(prep: Prepared, ranked: RankedLists, post: PostConfig, user_pos: int) -> pd.DataFrame:
    """For one user, each setting's effect on the list: items it took out and items it let in.

    Columns ``step``, ``change`` ("out"/"in"), ``stage 3 rank`` (the item's rank in ``ranked``),
    ``rank before``, ``rank after`` (NaN when not in that list), then the card columns of the item.
    Settings that changed nothing have no rows.
    """
    one = RankedLists(ranked.items[[user_pos]], ranked.scores[[user_pos]])
    row = one.items[0]
    input_rank = pd.Series(np.arange(1, len(row) + 1, dtype=np.float64)[row != PAD], index=row[row != PAD])
    before = None
    frames = []
    for name, config in steps(post):
        lst = postprocess(prep, one, config).lists
        # feed_cards reads row user_pos: a one-row list is padded to the user's row
        items = np.full((user_pos + 1, lst.width), PAD, np.int32)
        scores = np.full(items.shape, np.nan, np.float32)
        items[user_pos], scores[user_pos] = lst.items[0], lst.scores[0]
        cards = feed_cards(prep, RankedLists(items, scores), user_pos).set_index("item_pos")
        if before is not None:
            gone = before.index.difference(cards.index, sort=False)
            new = cards.index.difference(before.index, sort=False)
            for change, idx, src in (("out", gone, before), ("in", new, cards)):
                part = src.loc[idx].reset_index()
                part.insert(0, "change", change)
                part.insert(0, "step", name)
                part["stage 3 rank"] = input_rank.reindex(idx).to_numpy()
                part["rank before"] = before["rank"].reindex(idx).to_numpy(dtype=np.float64)
                part["rank after"] = cards["rank"].reindex(idx).to_numpy(dtype=np.float64)
                frames.append(part)
        before = cards
    cols = ["step", "change", "stage 3 rank", "rank before", "rank after"]
    if not frames:
        return pd.DataFrame(columns=cols)
    out = pd.concat(frames, ignore_index=True)
    return out[cols + [c for c in out.columns if c not in cols and c != "rank"]]
