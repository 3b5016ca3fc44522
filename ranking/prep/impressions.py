"""Logged impressions (slates) and the splits that keep them whole.

Where it sits: inside ``ranking.prep.split``; per-impression metrics (``ranking.evaluation.impression``)
group the held-out rows by the key made here.

An *impression* is one slate shown to one user at one visit. It is known when the interactions carry
an ``impression_id`` (MIND's import writes one; rows without one, such as imported click histories,
belong to no impression and always train), or when the data is a generated world with logged
``position``: its policy logs slot p of a visit ``SLOT_SECONDS``·(p − 1) seconds after the visit
starts (``ranking.data.policy``), so (user, event time − that offset) names the visit. Other data
(the notebook's CSVs, uploads without ids) has no impressions and keeps the per-user row split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ranking.config import SplitConfig
from ranking.data import schema as S

IMPRESSION_ID = "impression_id"  # column of MIND imports (ranking.data.mind)
IMPRESSION_KEY = "impression_key"  # int64 column of prepared interactions: 0..n−1, −1 = no impression


def impression_keys(inter: pd.DataFrame, user: np.ndarray, event_s: np.ndarray, spec: dict | None
                    ) -> tuple[np.ndarray | None, str]:
    """Each row's impression number (0..n−1 in order of (user, start time, id); −1 = none) and where it came
    from, or (None, why there are none)."""
    if IMPRESSION_ID in inter.columns:
        raw = inter[IMPRESSION_ID]
        has = raw.notna().to_numpy() & (raw.astype(str).str.strip() != "").to_numpy()
        if not has.any():
            return None, f"the `{IMPRESSION_ID}` column is empty"
        ident = pd.factorize(raw.astype(str).where(has, ""))[0].astype(np.int64)
        how = f"the log's `{IMPRESSION_ID}` column"
    elif spec and S.POSITION in inter.columns and inter[S.POSITION].notna().all() and len(inter):
        from ranking.data.policy import SLOT_SECONDS

        position = inter[S.POSITION].to_numpy(np.int64)
        ident = event_s - SLOT_SECONDS * (position - 1)  # the visit's start: one per user and visit
        has = np.ones(len(inter), bool)
        how = f"the generated world's slates (user and visit start = event time − {SLOT_SECONDS} s × (slot − 1))"
    else:
        return None, ("the data has no impressions (no `impression_id` column and not a generated world with "
                      "logged slots)")
    n = len(inter)
    start = np.where(has, event_s, np.iinfo(np.int64).max)
    pair = pd.MultiIndex.from_arrays([user[has], ident[has]])
    codes = pd.factorize(pair)[0]
    n_imp = int(codes.max()) + 1 if len(codes) else 0
    first = np.full(n_imp, np.iinfo(np.int64).max)
    np.minimum.at(first, codes, start[has])
    owner = np.zeros(n_imp, np.int64)
    owner[codes] = user[has]
    # number impressions by (user, start time, first appearance): deterministic and time-ordered per user
    order = np.lexsort((np.arange(n_imp), first, owner))
    rank = np.empty(n_imp, np.int64)
    rank[order] = np.arange(n_imp)
    key = np.full(n, -1, np.int64)
    key[has] = rank[codes]
    return key, how


def resolve(split: SplitConfig, has_impressions: bool) -> str:
    """The split method used: ``auto`` → ``impression`` with impressions, else ``time``."""
    if split.method == "auto":
        return "impression" if has_impressions else "time"
    return split.method


def split_impressions(key: np.ndarray, user: np.ndarray, event_s: np.ndarray, method: str, split: SplitConfig,
                      seed: int) -> np.ndarray:
    """Held-out rows of an impression split (``impression``, ``users`` or ``date``): whole impressions only.

    ``key`` numbers impressions by (user, start time) (:func:`impression_keys`); rows with key −1 train.
    """
    has = key >= 0
    n_imp = int(key.max()) + 1 if has.any() else 0
    imp_user = np.zeros(n_imp, np.int64)
    imp_user[key[has]] = user[has]
    imp_start = np.full(n_imp, np.iinfo(np.int64).max)
    np.minimum.at(imp_start, key[has], event_s[has])
    rows = np.bincount(user, minlength=int(user.max()) + 1 if len(user) else 0)
    per_user = np.bincount(imp_user, minlength=len(rows))
    if method == "impression":
        # impressions are numbered in (user, start) order: a user's are contiguous, latest last
        first = np.cumsum(per_user) - per_user
        slot = np.arange(n_imp) - first[imp_user]
        n_test = np.maximum(np.floor(per_user * split.test_fraction + 0.5).astype(np.int64), 1)
        ok = (rows >= split.min_history) & (per_user >= 2)
        held = ok[imp_user] & (slot >= per_user[imp_user] - n_test[imp_user])
    elif method == "users":
        active = np.flatnonzero((per_user > 0) & (rows >= split.min_history))
        chosen = np.random.default_rng(seed).permutation(active)[:max(round(len(active) * split.test_fraction),
                                                                     1 if len(active) > 1 else 0)]
        pick = np.zeros(len(rows), bool)
        pick[chosen] = True
        held = pick[imp_user]
    elif method == "date":
        held = imp_start >= cut_seconds(split, imp_start)
    else:
        raise ValueError(f"not an impression split: {method!r}")
    return has & held[np.maximum(key, 0)]


def cut_seconds(split: SplitConfig, starts: np.ndarray) -> int:
    """The date split's cut (seconds since the epoch): ``cut_date``, else the start time with ``test_fraction`` of
    the impressions (or rows) at or after it."""
    if split.cut_date:
        return int(pd.Timestamp(split.cut_date, tz="UTC").timestamp()) if pd.Timestamp(split.cut_date).tz is None \
            else int(pd.Timestamp(split.cut_date).timestamp())
    if not len(starts):
        return 0
    ordered = np.sort(starts)
    return int(ordered[min(len(ordered) - 1, int(np.floor(len(ordered) * (1 - split.test_fraction))))])


SPLIT_TEXT = {
    "impression": "each user's latest {share} of impressions held out whole",
    "users": "{share} of users held out with all their impressions",
    "date": "impressions from {cut} on held out",
    "time": "each user's latest {share} of interactions held out (a row split)",
    "random": "a seeded random {share} of each user's interactions held out (a row split)",
    "none": "nothing held out (train on everything)",
}


def describe_split(prep, split: SplitConfig) -> str:
    """The split used and its counts in one sentence, e.g. for the CLI and the Evaluation page."""
    inter = prep.interactions
    held = inter["is_test"].to_numpy(bool)
    method = prep.split_method
    cut = ""
    if method == "date":
        starts = pd.to_datetime(inter[S.EVENT_TS], utc=True)
        cut = starts[held].min().strftime("%Y-%m-%d %H:%M UTC") if held.any() else split.cut_date or "the cut"
    text = SPLIT_TEXT[method].format(share=f"{split.test_fraction:.0%}", cut=cut)
    n, n_held = len(inter), int(held.sum())
    out = (f"{method} split: {text}; {n - n_held:,} interactions train, {n_held:,} held out; "
           f"{prep.n_eval_users:,} users evaluated, {prep.n_train_only_users:,} train only")
    key = inter[IMPRESSION_KEY].to_numpy(np.int64) if IMPRESSION_KEY in inter.columns else np.full(n, -1)
    if (key >= 0).any():
        imp_held = np.unique(key[held & (key >= 0)])
        imp_all = np.unique(key[key >= 0])
        cut_slates = len(np.intersect1d(imp_held, np.unique(key[~held & (key >= 0)])))
        out += f"; {len(imp_held):,} of {len(imp_all):,} impressions held out"
        if cut_slates:
            out += f", {cut_slates:,} of them cut between training and held-out data"
        else:
            out += ", none cut"
    else:
        out += f"; {prep.split_note}, so each user's rows are split instead"
    return out
