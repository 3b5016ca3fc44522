"""One user's feed as readable rows: headline, publisher, topic, age, score and predicted signals.

Where it sits: beside ``ranking.evaluation.explain``; the feed cards on the Feed page are drawn
from these frames. ``feed_cards`` shows any stage's list; ``best_feed`` is the truly best feed for
the current label weights, the oracle's list: the user's eligible items ordered by their expected
compound score under the world's truth (``Truth.gain``), so only generated worlds have one.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ranking.config import CandidateConfig, LabelConfig
from ranking.data import schema as S
from ranking.evaluation import metrics as M
from ranking.prep import labels as L
from ranking.prep.lists import PAD, RankedLists
from ranking.prep.split import Prepared

TRUE_VALUE = "true value"


def age_text(hours: float) -> str:
    """An age for people: "< 1 h", "5 h" below two days, else days with one decimal ("2.5 d"); "—" if unknown."""
    if hours is None or not np.isfinite(hours):
        return "—"
    if hours < 1:
        return "< 1 h"
    if hours < 48:
        return f"{hours:.0f} h"
    return f"{hours / 24:.1f}".removesuffix(".0") + " d"


def headlines(prep: Prepared) -> np.ndarray:
    """Each item's headline: the ``title`` column without a leading "Publisher: ", else a readable stand-in."""
    c = prep.dataset.content
    topic, publisher = c[S.TOPIC].astype(str).to_numpy(), c[S.PUBLISHER].astype(str).to_numpy()
    ids = c[S.CONTENT_ID].to_numpy()
    fallback = np.array([f"{t.capitalize()} story no. {i}" for t, i in zip(topic, ids, strict=True)], dtype=object)
    if S.TITLE not in c.columns:
        return fallback
    title = c[S.TITLE].fillna("").astype(str).str.strip().to_numpy()
    out = []
    for t, p, f in zip(title, publisher, fallback, strict=True):
        t = t.removeprefix(f"{p}: ").strip() if t.startswith(f"{p}: ") else t
        out.append(t or f)
    return np.array(out, dtype=object)


def feed_cards(prep: Prepared, lists: RankedLists, user_pos: int, n: int | None = None,
               signals: Mapping[str, np.ndarray] | None = None, signal_items: np.ndarray | None = None
               ) -> pd.DataFrame:
    """One row per item of a user's list (rank order, first ``n``): rank, ids, headline, publisher, topic, age,
    quality, the stage's score and one column per predicted signal.

    ``signals``: name → array of the stage's predictions, rows = users, columns aligned with
    ``signal_items`` (default: ``lists.items``); an item is matched by id, so a post-processed list
    can show the signals of the stage it came from. Missing predictions are NaN.
    """
    items = np.asarray(lists.items[user_pos])
    scores = np.asarray(lists.scores[user_pos], dtype=np.float64)
    keep = np.flatnonzero(items != PAD)[:n]
    pos = items[keep]
    c = prep.dataset.content
    hours = prep.item_age_days[pos] * 24.0
    out = pd.DataFrame({
        "rank": keep + 1, S.CONTENT_ID: c[S.CONTENT_ID].to_numpy()[pos], "item_pos": pos,
        "headline": headlines(prep)[pos], S.PUBLISHER: c[S.PUBLISHER].astype(str).to_numpy()[pos],
        S.TOPIC: c[S.TOPIC].astype(str).to_numpy()[pos], "age_hours": hours,
        "age": [age_text(h) for h in hours], "quality": prep.item_quality[pos].astype(np.float64),
        "score": scores[keep],
    })
    source = np.asarray(lists.items if signal_items is None else signal_items)[user_pos]
    for name in S.SIGNALS:
        if signals is None or name not in signals:
            continue
        row = np.asarray(signals[name])[user_pos].astype(np.float64)
        lookup = pd.Series(row[source != PAD], index=source[source != PAD])
        lookup = lookup[~lookup.index.duplicated()]
        out[name] = lookup.reindex(pos).to_numpy()
    return out


def true_values(prep: Prepared, user_pos: int, labels: LabelConfig | None = None) -> np.ndarray | None:
    """The user's expected compound score of every item under ``labels`` (default: the run's), from the
    world's truth with dwell normalised as the label does; None without a truth."""
    truth = prep.dataset.truth
    if truth is None:
        return None
    labels = labels or prep.labels
    who = np.array([user_pos])
    if labels is None or not hasattr(truth, "gain"):
        return np.asarray(truth.rows(who)[0], dtype=np.float64)
    dwell_norm = L.expected_dwell_per_item(prep.interactions, prep.dataset.content, labels)
    return np.asarray(truth.gain(who, labels, dwell_norm)[0], dtype=np.float64)


def best_feed(prep: Prepared, user_pos: int, cand_config: CandidateConfig, m: int,
              labels: LabelConfig | None = None) -> pd.DataFrame | None:
    """The truly best feed of length ``m``: eligible items by true value (ties: item order); None without a truth."""
    values = true_values(prep, user_pos, labels)
    if values is None:
        return None
    eligible = prep.eligible(np.array([user_pos]), cand_config)[0][0]
    pos = np.flatnonzero(eligible)
    pos = pos[np.lexsort((pos, -values[pos]))][:m]
    items = np.full((prep.n_users, max(len(pos), 1)), PAD, np.int32)
    scores = np.full(items.shape, np.nan, np.float32)
    items[user_pos, : len(pos)], scores[user_pos, : len(pos)] = pos, values[pos]
    out = feed_cards(prep, RankedLists(items, scores), user_pos)
    return out.rename(columns={"score": TRUE_VALUE})


def with_truth(cards: pd.DataFrame, prep: Prepared, user_pos: int, labels: LabelConfig | None = None
               ) -> pd.DataFrame:
    """``cards`` plus the true value of each item (unchanged when the data has no truth)."""
    values = true_values(prep, user_pos, labels)
    if values is None:
        return cards
    return cards.assign(**{TRUE_VALUE: values[cards["item_pos"].to_numpy()]})


def feed_ndcg(today: np.ndarray, best: np.ndarray) -> float:
    """How close today's feed is to the best: linear NDCG of today's true values against the best feed's
    (negatives count 0, as in oracle NDCG); NaN when the best feed has no positive value."""
    k = max(len(today), len(best), 1)
    g = np.full((1, k), np.nan)
    i = np.full((1, k), np.nan)
    g[0, : len(today)] = np.maximum(today, 0)
    i[0, : len(best)] = np.maximum(best, 0)
    return float(M.ndcg(g, i, k, form="linear")[0])
