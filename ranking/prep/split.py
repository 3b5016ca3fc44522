"""Labels, the train/held-out split and integer indexes: what every stage works from.

A user's or item's *position* is its row in ``Dataset.users`` / ``Dataset.content``; all
arrays below are indexed by position, so stages work with matrix products, not lookups.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ranking.config import CandidateConfig, LabelConfig, SplitConfig
from ranking.data import schema as S
from ranking.data.dataset import Dataset
from ranking.errors import DataError
from ranking.prep import impressions as IMP
from ranking.prep import labels as L

USER_POS = "user_pos"
ITEM_POS = "item_pos"
IS_TEST = "is_test"


@dataclass(frozen=True, eq=False)
class Prepared:
    """The dataset, labelled and split, with per-position arrays for users and items."""

    dataset: Dataset
    interactions: pd.DataFrame  # input order; + user_pos, item_pos, score, label, grade, is_test
    topics: tuple[str, ...]
    publishers: tuple[str, ...]
    item_topic: np.ndarray  # int16 code into topics
    item_publisher: np.ndarray  # int32 code into publishers
    item_quality: np.ndarray  # float32
    item_published_s: np.ndarray  # int64 seconds since epoch
    item_restriction: np.ndarray  # int8: -1 = ALL, else code into schema.REGIONS
    user_region: np.ndarray  # int8 code into schema.REGIONS
    user_affinity: np.ndarray  # float32 (n_users, n_topics); NaN where no affinity column states it
    blocked: sp.csr_matrix  # bool (n_users, n_publishers): publisher named in the user's blocklist
    seen: sp.csr_matrix  # bool (n_users, n_items): item in the user's *training* interactions
    t_serve_s: int  # the last training event (seconds since epoch): popularity decays from here
    n_eval_users: int
    n_train_only_users: int
    now_s: int = 0  # serving time "now": a generated world's ``now``, else the dataset's last event
    labels: LabelConfig | None = None  # the label the interactions were scored with (the oracle's weights)
    split_method: str = "time"  # the split used (``auto`` resolved): see SplitConfig
    split_note: str = ""  # where the impressions came from, or why there are none

    @property
    def n_users(self) -> int:
        return len(self.dataset.users)

    @property
    def n_items(self) -> int:
        return len(self.dataset.content)

    @property
    def train(self) -> pd.DataFrame:
        return self.interactions[~self.interactions[IS_TEST].to_numpy()]

    @property
    def test(self) -> pd.DataFrame:
        return self.interactions[self.interactions[IS_TEST].to_numpy()]

    def eligible(self, user_pos: np.ndarray, config: CandidateConfig) -> tuple[np.ndarray, dict[str, int]]:
        """Boolean (len(user_pos), n_items) eligibility and how many pairs each filter removed.

        Filters apply in order region → blocklist → already seen → age (older than
        ``config.max_age_days`` at ``now_s``; 0 = no limit); each count is what that filter
        removed among pairs the earlier filters kept.
        """
        user_pos = np.asarray(user_pos)
        removed = {"region": 0, "blocklist": 0, "seen": 0, "age": 0}
        # Stages call this for every chunk of users over the whole catalog: the sparse filters
        # touch only the rows and cells they remove, and counts use count_nonzero, not sum.
        if config.filter_region:
            mask = (self.item_restriction[None, :] < 0) | (
                self.item_restriction[None, :] == self.user_region[user_pos, None]
            )
            removed["region"] = mask.size - int(np.count_nonzero(mask))
        else:
            mask = np.ones((len(user_pos), self.n_items), dtype=bool)
        if config.filter_blocklist and self.blocked.nnz:
            r, c = _stored(self.blocked, user_pos)
            if len(r):
                rows, r = np.unique(r, return_inverse=True)  # users whose blocklist names a known publisher
                blocked = np.zeros((len(rows), len(self.publishers)), dtype=bool)
                blocked[r, c] = True
                part = mask[rows]
                before = int(np.count_nonzero(part))
                part &= ~blocked[:, self.item_publisher]
                removed["blocklist"] = before - int(np.count_nonzero(part))
                mask[rows] = part
        if config.filter_seen and self.seen.nnz:
            r, c = _stored(self.seen, user_pos)
            removed["seen"] = int(np.count_nonzero(mask[r, c]))
            mask[r, c] = False
        if self.age_limit_applies(config):
            old = self.item_age_days > config.max_age_days
            if old.any():
                before = int(np.count_nonzero(mask))
                mask[:, old] = False
                removed["age"] = before - int(np.count_nonzero(mask))
        return mask, removed

    def age_limit_applies(self, config: CandidateConfig) -> bool:
        """The age limit filters unless it is off (0) or would remove the whole catalog: a log whose newest
        item is older than the limit at serving time (an old upload) keeps its items, and the notes say so."""
        return config.max_age_days > 0 and bool((self.item_age_days <= config.max_age_days).any())

    def serving_s(self, item_pos: np.ndarray) -> np.ndarray:
        """When items are scored: serving time ``now_s``, or its publication for an item published later
        (brand new), int64 seconds since the epoch."""
        return np.maximum(self.item_published_s[np.asarray(item_pos, np.int64)], self.now_s)

    @property
    def item_age_days(self) -> np.ndarray:
        """Each item's age in days at serving time ``now_s`` (0 for items published later)."""
        return np.maximum(self.now_s - self.item_published_s, 0) / 86400.0


def _stored(matrix: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row number in ``rows``, column) of every True entry stored in those CSR rows, without scipy's slicing."""
    if not matrix.has_canonical_format:  # a repeated entry must count once, as with toarray()
        matrix = matrix.copy()
        matrix.sum_duplicates()
    rows = np.asarray(rows, dtype=np.intp)
    start, stop = matrix.indptr[rows], matrix.indptr[rows + 1]
    counts = stop - start
    at = np.repeat(start - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))
    keep = matrix.data[at].astype(bool)  # an explicitly stored False removes nothing, as with toarray()
    return np.repeat(np.arange(len(rows)), counts)[keep], matrix.indices[at][keep]


def prepare(dataset: Dataset, labels: L.LabelConfig, split: SplitConfig, seed: int) -> Prepared:
    """Label the interactions, split them per user and build the position indexes."""
    users, content = dataset.users, dataset.content
    inter = L.labelled(dataset.interactions, content, labels)
    user_index = pd.Index(users[S.USER_ID].to_numpy())
    item_index = pd.Index(content[S.CONTENT_ID].to_numpy())
    inter[USER_POS] = user_index.get_indexer(inter[S.USER_ID].to_numpy()).astype(np.int32)
    inter[ITEM_POS] = item_index.get_indexer(inter[S.CONTENT_ID].to_numpy()).astype(np.int32)
    if (inter[USER_POS] < 0).any() or (inter[ITEM_POS] < 0).any():
        raise DataError("interactions reference users or content not in the tables (validate the data first)")
    event_s = seconds(inter[S.EVENT_TS]) if len(inter) else np.zeros(0, np.int64)
    keys, how = IMP.impression_keys(inter, inter[USER_POS].to_numpy(np.int64), event_s, dataset.spec)
    method = IMP.resolve(split, keys is not None)
    if method in ("impression", "users") and keys is None:
        raise DataError(f"the {method!r} split needs impressions, and {how}; use the 'time' or 'date' split")
    inter[IMP.IMPRESSION_KEY] = keys if keys is not None else np.full(len(inter), -1, np.int64)
    is_test, n_eval, n_train_only = _split(inter, split, seed, method, event_s)
    inter[IS_TEST] = is_test

    topics = tuple(sorted(map(str, content[S.TOPIC].astype(str).unique())))
    publishers = tuple(sorted(map(str, content[S.PUBLISHER].astype(str).unique())))
    item_topic = pd.Index(topics).get_indexer(content[S.TOPIC].astype(str)).astype(np.int16)
    item_publisher = pd.Index(publishers).get_indexer(content[S.PUBLISHER].astype(str)).astype(np.int32)
    regions = pd.Index(S.REGIONS)
    restriction = content[S.RESTRICTION].astype(str).to_numpy()
    item_restriction = np.where(restriction == S.ALL_REGIONS, -1, regions.get_indexer(restriction)).astype(np.int8)
    user_region = regions.get_indexer(users[S.REGION].astype(str)).astype(np.int8)

    affinity = np.full((len(users), len(topics)), np.nan, dtype=np.float32)
    for t, topic in enumerate(topics):
        column = dataset.affinity.get(topic)
        if column is not None:
            affinity[:, t] = users[column].to_numpy(dtype=np.float32)

    blocked = _blocked(users[S.BLOCKLIST], publishers)
    train = inter[~is_test]
    seen = sp.csr_matrix(
        (np.ones(len(train), dtype=bool), (train[USER_POS].to_numpy(), train[ITEM_POS].to_numpy())),
        shape=(len(users), len(content)),
    )
    seen.sum_duplicates()
    seen.data[:] = True
    ts = seconds(train[S.EVENT_TS]) if len(train) else seconds(inter[S.EVENT_TS])
    return Prepared(
        dataset=dataset, interactions=inter, topics=topics, publishers=publishers,
        item_topic=item_topic, item_publisher=item_publisher,
        item_quality=content[S.QUALITY].to_numpy(dtype=np.float32),
        item_published_s=seconds(content[S.PUBLISHED]), item_restriction=item_restriction,
        user_region=user_region, user_affinity=affinity, blocked=blocked, seen=seen,
        t_serve_s=int(ts.max()) if len(ts) else 0, n_eval_users=n_eval, n_train_only_users=n_train_only,
        now_s=_now_s(dataset, inter), labels=labels, split_method=method,
        split_note=f"impressions from {how}" if keys is not None else how,
    )


def relabel(prep: Prepared, labels: L.LabelConfig) -> Prepared:
    """``prep`` scored with other label settings: the same split, indexes and arrays, new score, label and
    grade columns. Equal to ``prepare`` with ``labels`` (the split never looks at the label), at the cost
    of the scoring alone: a weight or threshold move no longer re-splits and re-indexes the whole log."""
    if labels == prep.labels:
        return prep
    return replace(prep, interactions=L.labelled(prep.interactions, prep.dataset.content, labels), labels=labels)


def _now_s(dataset: Dataset, inter: pd.DataFrame) -> int:
    """Serving time: the world spec's ``now`` when there is one, else the last event of the log."""
    now = (dataset.spec or {}).get("now")
    if now is not None:
        try:
            return int(seconds(pd.Series([now]))[0])
        except (ValueError, TypeError):
            pass  # a malformed spec falls back to the log, like a real dataset
    events = seconds(inter[S.EVENT_TS]) if len(inter) else np.zeros(0, np.int64)
    return int(events.max()) if len(events) else 0


def seconds(ts: pd.Series) -> np.ndarray:
    """UTC timestamps as int64 seconds since the epoch."""
    return (pd.to_datetime(ts, utc=True).astype("datetime64[ns, UTC]").astype("int64") // 10**9).to_numpy()


def _split(inter: pd.DataFrame, split: SplitConfig, seed: int, method: str,
           event_s: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Held-out rows and the counts of evaluated and train-only users, for the resolved ``method``."""
    n = len(inter)
    user = inter[USER_POS].to_numpy()
    counts = np.bincount(user, minlength=int(user.max()) + 1 if n else 0)
    active = counts > 0
    if method == "none":  # train on everything: every active user is train-only
        return np.zeros(n, dtype=bool), 0, int(np.count_nonzero(active))
    if method in ("impression", "users", "date"):
        key = inter[IMP.IMPRESSION_KEY].to_numpy(np.int64)
        if method == "date" and not (key >= 0).any():  # rows are their own "impressions"
            is_test = event_s >= IMP.cut_seconds(split, event_s)
        else:
            is_test = IMP.split_impressions(key, user.astype(np.int64), event_s, method, split, seed)
        evaluated = np.bincount(user[is_test], minlength=len(counts)) > 0
        return is_test, int(evaluated.sum()), int((active & ~evaluated).sum())
    if method == "time":
        key = event_s
    else:
        key = np.random.default_rng(seed).random(n)
    # order within user by key, ties by content id then row: deterministic
    order = np.lexsort((np.arange(n), inter[S.CONTENT_ID].to_numpy(), key, user))
    sorted_user = user[order]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos_in_user = np.arange(n) - starts[sorted_user]
    n_user = counts[sorted_user]
    n_test = np.floor(n_user * split.test_fraction + 0.5).astype(np.int64)
    n_test = np.clip(n_test, 1, None)
    eligible = n_user >= split.min_history
    is_test_sorted = eligible & (pos_in_user >= n_user - n_test)
    is_test = np.empty(n, dtype=bool)
    is_test[order] = is_test_sorted
    n_eval = int((active & (counts >= split.min_history)).sum())
    n_train_only = int((active & (counts < split.min_history)).sum())
    return is_test, n_eval, n_train_only


def _blocked(blocklist: pd.Series, publishers: tuple[str, ...]) -> sp.csr_matrix:
    """Sparse users × publishers matrix of blocklist entries that name a known publisher."""
    pub_index = pd.Index(publishers)
    entries = blocklist.fillna("").astype(str).str.split(";").explode().str.strip()
    entries = entries[entries != ""]
    codes = pub_index.get_indexer(entries.to_numpy())
    keep = codes >= 0
    rows = np.asarray(entries.index)[keep].astype(np.int64)
    # blocklist index is the users frame's index; map to positions
    pos = pd.Index(blocklist.index).get_indexer(rows)
    m = sp.csr_matrix((np.ones(keep.sum(), dtype=bool), (pos, codes[keep])),
                      shape=(len(blocklist), len(publishers)))
    m.sum_duplicates()
    m.data[:] = True
    return m
