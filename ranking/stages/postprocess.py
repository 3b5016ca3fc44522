"""Post-processing: a quality floor and an age limit, then diversity (MMR or caps) → the final M items per user.

Where it sits: after the last ranking stage. It never re-scores: every item keeps its input
(relevance) score, and only the order and the selection change. Vectorised over users; the
greedy steps loop over the M output slots only. Ties always go to the better input rank.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.config import PostConfig
from ranking.prep.lists import PAD, RankedLists
from ranking.prep.split import Prepared


@dataclass(frozen=True, eq=False)
class Changes:
    """What post-processing did, per user (rows as in the input) and in total."""

    dropped_by_floor: np.ndarray  # int32: items removed by the quality floor or the age limit
    positions_changed: np.ndarray  # int32: final positions holding another item than plain top M
    summary: dict[str, float]


@dataclass(frozen=True, eq=False)
class PostResult:
    """The final lists (input scores kept) and the changes made to get them."""

    lists: RankedLists
    changes: Changes


def postprocess(prep: Prepared, ranked: RankedLists, config: PostConfig) -> PostResult:
    """Apply the quality floor and the age limit, then keep M items per user by plain rank, MMR or caps.

    ``none``: the top M after the floor. ``mmr``: greedily pick argmax of
    λ·rel − (1−λ)·max sim(selected), rel = input score min-max normalised per user, sim(i, j)
    = 0.5·[same topic] + 0.5·[same publisher]. ``caps``: walk the list in input order,
    skipping items whose topic or publisher already has its cap; if that leaves fewer than M,
    the skipped items fill the remaining slots in input order (a short list is worse than a
    repeated topic). Plain top M is the reference for ``positions_changed``.
    """
    items, scores = np.asarray(ranked.items), np.asarray(ranked.scores, dtype=np.float32)
    n, width = items.shape
    present = items != PAD
    safe = np.maximum(items, 0)
    keep = present & (prep.item_quality[safe] >= config.quality_floor)
    if config.max_age_hours > 0:  # news goes stale: older than the limit at serving time is dropped
        keep &= prep.item_age_days[safe] * 24.0 <= config.max_age_hours
    dropped = (present & ~keep).sum(axis=1).astype(np.int32)
    # move the kept items to the front, in input order
    order = np.argsort(~keep, axis=1, kind="stable")
    items = np.where(np.take_along_axis(keep, order, axis=1), np.take_along_axis(items, order, axis=1), PAD)
    scores = np.take_along_axis(scores, order, axis=1)
    valid = items != PAD
    m = min(config.m, width)
    if config.diversity == "mmr":
        picked = _mmr(prep, items, scores, valid, m, config.mmr_lambda)
    elif config.diversity == "caps":
        picked = _caps(prep, items, valid, m, config.max_per_topic, config.max_per_publisher)
    else:
        picked = np.where(valid[:, :m], np.arange(m), -1)
    got = picked >= 0
    col = np.maximum(picked, 0)
    final = np.where(got, np.take_along_axis(items, col, axis=1), PAD).astype(np.int32)
    final_scores = np.where(got, np.take_along_axis(scores, col, axis=1), np.nan).astype(np.float32)
    changed = (final != items[:, :m]).sum(axis=1).astype(np.int32)
    summary = {
        "users": n,
        "dropped_by_floor": int(dropped.sum()),
        "users_with_drops": int((dropped > 0).sum()),
        "positions_changed": int(changed.sum()),
        "users_affected": int((changed > 0).sum()),
        "mean_length": float((final != PAD).sum(axis=1).mean()) if n else 0.0,
    }
    return PostResult(RankedLists(final, final_scores), Changes(dropped, changed, summary))


def _mmr(prep: Prepared, items: np.ndarray, scores: np.ndarray, valid: np.ndarray, m: int,
         lam: float) -> np.ndarray:
    """Column indices picked by greedy MMR, -1 where a user has no item left."""
    n, width = items.shape
    scored = valid & ~np.isnan(scores)
    s = np.where(scored, scores, 0.0).astype(np.float64)
    has_any = scored.any(axis=1)
    lo = np.where(has_any, np.where(scored, s, np.inf).min(axis=1, initial=np.inf), 0.0)
    hi = np.where(has_any, np.where(scored, s, -np.inf).max(axis=1, initial=-np.inf), 0.0)
    span = hi - lo
    # an unscored item counts as the least relevant; a user whose scores are all equal gets rel 0
    rel = np.divide(s - lo[:, None], span[:, None], out=np.zeros_like(s), where=scored & (span[:, None] > 0))
    safe = np.maximum(items, 0)
    topic, publisher = prep.item_topic[safe], prep.item_publisher[safe]
    max_sim = np.zeros((n, width))
    remaining = valid.copy()
    rows = np.arange(n)
    picked = np.full((n, m), -1, np.int64)
    for step in range(m):
        value = np.where(remaining, lam * rel - (1.0 - lam) * max_sim, -np.inf)
        best = np.argmax(value, axis=1)  # first maximum: ties go to the better input rank
        ok = remaining[rows, best]
        picked[:, step] = np.where(ok, best, -1)
        remaining[rows[ok], best[ok]] = False
        sim = (0.5 * (topic == topic[rows, best][:, None])
               + 0.5 * (publisher == publisher[rows, best][:, None]))
        max_sim = np.where(ok[:, None], np.maximum(max_sim, sim), max_sim)
    return picked


def _caps(prep: Prepared, items: np.ndarray, valid: np.ndarray, m: int, max_topic: int,
          max_publisher: int) -> np.ndarray:
    """Column indices picked in input order under per-topic / per-publisher caps, then filled."""
    n, width = items.shape
    safe = np.maximum(items, 0)
    topic, publisher = prep.item_topic[safe].astype(np.int64), prep.item_publisher[safe].astype(np.int64)
    topic_count = np.zeros((n, len(prep.topics)), np.int64)
    publisher_count = np.zeros((n, len(prep.publishers)), np.int64)
    remaining = valid.copy()
    rows = np.arange(n)
    picked = np.full((n, m), -1, np.int64)
    n_picked = np.zeros(n, np.int64)
    for step in range(m):
        # counts only grow, so an item skipped once stays skipped: first allowed = sequential greedy
        allowed = (remaining & (np.take_along_axis(topic_count, topic, axis=1) < max_topic)
                   & (np.take_along_axis(publisher_count, publisher, axis=1) < max_publisher))
        best = np.argmax(allowed, axis=1)
        ok = allowed[rows, best]
        picked[:, step] = np.where(ok, best, -1)
        r, c = rows[ok], best[ok]
        remaining[r, c] = False
        topic_count[r, topic[r, c]] += 1
        publisher_count[r, publisher[r, c]] += 1
        n_picked += ok
    # fill the slots the caps left empty with the skipped items, in input order
    skipped = np.argsort(~remaining, axis=1, kind="stable")
    n_skipped = remaining.sum(axis=1)
    slot = np.arange(m)[None, :] - n_picked[:, None]
    fill = (slot >= 0) & (slot < n_skipped[:, None])
    filler = np.take_along_axis(skipped, np.clip(slot, 0, max(width - 1, 0)), axis=1) if width else picked
    return np.where(fill, filler, picked)
