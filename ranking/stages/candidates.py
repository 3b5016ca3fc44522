"""Stage 1, candidate generation: catalog → K candidates per user from cheap sources.

Where it sits: first stage of the funnel. Four sources score every (user, item) pair —
``topic`` (the user's stated affinity for the item's topic), ``popularity`` (recency-decayed
engagement), ``cf`` (truncated SVD of training engagement) and ``glm`` (the per-signal GLM's
expected value Σ wᵢ·signalᵢ at serving time under the label the stage was fitted with,
``ranking.stages.glm``: linear, so it scores the whole catalog from user, item and user × topic parts; a
later weight move re-ranks stages 2 and 3 within these candidates, as production retrieval keeps its own
objective) — eligibility filters (region,
blocklist, already seen, older than ``max_age_days`` at serving time "now") apply, and one
source's top K, or a quota blend of several, becomes the candidate list stage 2 re-ranks. Work is
chunked by user; loops run over chunks and sources.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ranking.config import CandidateConfig
from ranking.data import schema as S
from ranking.errors import ConfigError, DataError, TrainingError
from ranking.prep.lists import PAD, RankedLists, row_order, top_k
from ranking.prep.split import ITEM_POS, USER_POS, Prepared
from ranking.stages.cf import _cf_scores, _factorise

SOURCE_NAMES = ("topic", "popularity", "cf", "glm")
POPULARITY_SMOOTHING = 0.01  # weight of decayed exposure next to decayed positives
CF_POSITIVE, CF_NEUTRAL, CF_HIDE = 1.0, 0.25, -1.0  # engagement matrix values (see CandidateGenerator)
_DAY_S = 86_400.0
_FLAT = 1e-12  # a score row with a smaller spread is constant for the user: the source has no opinion


@dataclass(frozen=True, eq=False)
class Candidates(RankedLists):
    """Stage-1 lists (``scores`` = stage-1 score) with provenance and filter counts."""

    source: np.ndarray  # int8 (n_users, K): index into SOURCE_NAMES of the source that filled the slot, -1 pad
    source_mask: np.ndarray  # uint8 (n_users, K): bit s set if source s (of those the config uses) has
    #                          the item in its own top K among eligible items
    removed: dict[str, int]  # pairs removed by each filter (region, blocklist, seen, age), summed over users
    n_eligible: np.ndarray  # int32 per user: items left after the filters
    user_pos: np.ndarray  # int32: the user position of each row

    @property
    def n_empty(self) -> int:
        """Users left with no eligible item (their rows are all padding)."""
        return int((self.n_eligible == 0).sum())


def sources_of(mask: int) -> list[str]:
    """Names of the sources whose bits are set in a ``source_mask`` value."""
    return [name for s, name in enumerate(SOURCE_NAMES) if int(mask) >> s & 1]


class CandidateGenerator:
    """Fits the popularity and CF sources on training interactions; generates and scores candidates.

    Topics without a stated-affinity column score 0 in the topic source, as in the notebook's
    naive topic score. CF factorises a users × items matrix holding, per pair, +1 for a
    label-positive interaction, +0.25 for a neutral impression and −1 for a hide that was not
    positive (repeats summed, clipped to [−1, 1]); pairs never shown are 0. Users (items)
    without training history get zero factors, so a CF score of 0.
    """

    def __init__(self, config: CandidateConfig, seed: int = 0):
        self.config = config
        self.seed = seed

    def fit(self, prep: Prepared, interactions: pd.DataFrame | None = None) -> CandidateGenerator:
        """Learn popularity and CF factors from training interactions (default ``prep.train``)."""
        inter = prep.train if interactions is None else interactions
        missing = sorted({USER_POS, ITEM_POS, S.LABEL, S.HIDE, S.EVENT_TS} - set(inter.columns))
        if missing:
            raise DataError(f"interactions for stage 1 lack columns {missing} (pass prepared interactions)")
        names = [name for name, _ in self.config.quotas]
        if len(set(names)) != len(names):
            raise ConfigError(f"each quota source may appear once, got {names}")
        if not self.config.popularity_half_life_days > 0:
            raise ConfigError("popularity_half_life_days must be > 0")
        u, i = inter[USER_POS].to_numpy(np.int64), inter[ITEM_POS].to_numpy(np.int64)
        positive = inter[S.LABEL].to_numpy() > 0
        seconds = ((pd.to_datetime(inter[S.EVENT_TS], utc=True) - pd.Timestamp(0, tz="UTC"))
                   / pd.Timedelta(seconds=1)).to_numpy(np.float64)
        self.t_ref_s_ = float(seconds.max()) if len(seconds) else 0.0
        decay = np.exp(-np.log(2.0) * (self.t_ref_s_ - seconds) / (self.config.popularity_half_life_days * _DAY_S))
        self.popularity_ = (np.bincount(i, positive * decay, minlength=prep.n_items)
                            + POPULARITY_SMOOTHING * np.bincount(i, decay, minlength=prep.n_items))
        pop32 = self.popularity_.astype(np.float32)
        self.popularity_order_ = np.lexsort((np.arange(prep.n_items), -pop32))  # ties by item position
        value = np.where(positive, CF_POSITIVE, np.where(inter[S.HIDE].to_numpy() > 0, CF_HIDE, CF_NEUTRAL))
        matrix = sp.csr_matrix((value, (u, i)), shape=(prep.n_users, prep.n_items))
        matrix.sum_duplicates()
        np.clip(matrix.data, -1.0, 1.0, out=matrix.data)
        self.user_factors_, self.item_factors_, self.singular_values_ = _factorise(
            matrix, self.config.cf_factors, self.seed)
        # moments of the CF scores over items, so each user's z-score needs no pass over the catalog
        self.item_mean_ = self.item_factors_.mean(axis=0)
        centred = self.item_factors_ - self.item_mean_
        self.item_cov_ = centred.T @ centred / max(prep.n_items, 1)
        self.n_items_ = prep.n_items
        self.glm_ = None
        if "glm" in (self.config.source, *(name for name, share in self.config.quotas if share > 0)):
            from ranking.stages.glm import SignalGLM

            self.glm_ = SignalGLM(seed=self.seed).fit(prep, inter)
            self.glm_labels_ = prep.labels  # the source keeps the weights it was fitted under
        return self

    def source_scores(self, prep: Prepared, user_pos: np.ndarray) -> dict[str, np.ndarray]:
        """Raw score of every source: float32 (len(user_pos), n_items) per source name."""
        self._check(prep)
        return {name: np.ascontiguousarray(x) for name, x in self._raw(prep, np.asarray(user_pos)).items()}

    def blend(self, prep: Prepared, user_pos: np.ndarray) -> np.ndarray:
        """Stage-1 score (len(user_pos), n_items): the source's raw score, or Σ share_s · z_s (hybrid).

        z_s is source s standardised per user over all items (0 where the source is constant
        for that user), so the score is defined for every pair, eligible or not.
        """
        self._check(prep)
        users = np.asarray(user_pos)
        raw = self._raw(prep, users)
        return np.ascontiguousarray(self._blend(raw, self._stats(prep, users, raw)))

    def generate(self, prep: Prepared, user_pos: np.ndarray | None = None, chunk: int = 2048) -> Candidates:
        """Top-K eligible candidates per user, ordered by stage-1 score (ties by item position)."""
        self._check(prep)
        users = np.arange(prep.n_users) if user_pos is None else np.asarray(user_pos)
        k = self.config.resolved_k(prep.n_items)
        fields = {"items": [np.zeros((0, k), np.int32)], "scores": [np.zeros((0, k), np.float32)],
                  "source": [np.zeros((0, k), np.int8)], "source_mask": [np.zeros((0, k), np.uint8)],
                  "n_eligible": [np.zeros(0, np.int32)]}
        removed = dict.fromkeys(("region", "blocklist", "seen", "age"), 0)
        for start in range(0, len(users), chunk):
            part, counts = self._chunk(prep, users[start:start + chunk], k)
            for key, value in part.items():
                fields[key].append(value)
            for key, n in counts.items():
                removed[key] = removed.get(key, 0) + n
        return Candidates(**{key: np.concatenate(parts) for key, parts in fields.items()},
                          removed=removed, user_pos=users.astype(np.int32))

    def score_pairs(self, prep: Prepared, user_pos: np.ndarray, item_pos: np.ndarray,
                    chunk: int = 2048) -> dict[str, np.ndarray]:
        """Per-source scores, ``stage1_score`` and exact ``stage1_rank`` of arbitrary (user, item) pairs.

        stage1_rank = 1 + the number of eligible items (this config's filters) with a strictly
        higher stage-1 score for that user; equal scores share a rank. Values equal ``generate``'s.
        """
        self._check(prep)
        u, i = np.asarray(user_pos, dtype=np.int64), np.asarray(item_pos, dtype=np.int64)
        out = {name: np.zeros(len(u), np.float32) for name in (*SOURCE_NAMES, "stage1_score")}
        out["stage1_rank"] = np.zeros(len(u), np.int32)
        order = np.argsort(u, kind="stable")
        sorted_u, users = u[order], np.unique(u)
        for start in range(0, len(users), chunk):
            block = users[start:start + chunk]
            at = order[np.searchsorted(sorted_u, block[0]):np.searchsorted(sorted_u, block[-1], side="right")]
            row = np.searchsorted(block, u[at])
            raw = self._raw(prep, block)
            stage1 = self._blend(raw, self._stats(prep, block, raw))
            for name in SOURCE_NAMES:
                out[name][at] = raw[name][row, i[at]]
            value = stage1[row, i[at]]
            out["stage1_score"][at] = value
            eligible, _ = prep.eligible(block, self.config)
            # the blend is this chunk's own array (a single source's may be a shared, read-only view):
            # mask and sort it in place rather than allocating two more users × items copies
            ranked = stage1 if stage1.flags.writeable and self.config.source == "hybrid" else np.array(stage1)
            np.copyto(ranked, -np.inf, where=~eligible)
            ranked.sort(axis=1)
            out["stage1_rank"][at] = 1 + prep.n_items - _count_at_most(ranked, row, value)
        return out

    # -- internals ------------------------------------------------------------------------

    def _check(self, prep: Prepared) -> None:
        if not hasattr(self, "popularity_"):
            raise TrainingError("the candidate generator is not fitted yet: call fit(prep) first")
        if prep.n_items != self.n_items_:
            raise DataError(f"generator fitted on {self.n_items_} items, got a dataset with {prep.n_items}")

    def _raw(self, prep: Prepared, users: np.ndarray, names: tuple[str, ...] = SOURCE_NAMES) -> dict:
        out = {}
        if "topic" in names:
            affinity = np.nan_to_num(prep.user_affinity[users], nan=0.0).astype(np.float32)
            out["topic"] = np.take(affinity, prep.item_topic, axis=1)
        if "popularity" in names:
            pop = self.popularity_.astype(np.float32)
            out["popularity"] = np.broadcast_to(pop, (len(users), len(pop)))
        if "cf" in names:  # float64 product, then rounding: a row's scores do not depend on its batch
            out["cf"] = _cf_scores(self.user_factors_[users], self.item_factors_)
        if "glm" in names:
            glm = getattr(self, "glm_", None)
            out["glm"] = (glm.value_rows(prep, users, self.glm_labels_) if glm is not None
                          else np.zeros((len(users), prep.n_items), np.float32))
        return out

    def _stats(self, prep: Prepared, users: np.ndarray, raw: dict | None = None
               ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each source's per-user mean and 1/std over all items, from closed forms (float32 columns); the glm
        source's from its rows in ``raw``."""
        n_items = max(prep.n_items, 1)
        affinity = np.nan_to_num(prep.user_affinity[users].astype(np.float32).astype(np.float64), nan=0.0)
        counts = np.bincount(prep.item_topic, minlength=affinity.shape[1]).astype(np.float64)
        mean = (affinity * counts).sum(axis=1) / n_items
        topic = (mean, ((affinity - mean[:, None]) ** 2 * counts).sum(axis=1) / n_items)
        pop = self.popularity_.astype(np.float32).astype(np.float64)
        popularity = (np.full(len(users), pop.mean()), np.full(len(users), pop.var()))
        f = self.user_factors_[users]
        cf = ((f * self.item_mean_).sum(axis=1), ((f[:, :, None] * self.item_cov_).sum(axis=1) * f).sum(axis=1))
        moments = [("topic", topic), ("popularity", popularity), ("cf", cf)]
        if raw is not None and "glm" in raw:  # no closed form: the rows are at hand
            g = raw["glm"].astype(np.float64)
            moments.append(("glm", (g.mean(axis=1), g.var(axis=1))))
        out = {}
        for name, (mean, var) in moments:
            std = np.sqrt(np.maximum(var, 0.0))
            inv = np.divide(1.0, std, out=np.zeros_like(std), where=std > _FLAT)
            out[name] = (mean.astype(np.float32)[:, None], inv.astype(np.float32)[:, None])
        return out

    def _weights(self) -> list[tuple[str, float]]:
        active = [(name, float(share)) for name, share in self.config.quotas if share > 0]
        total = sum(share for _, share in active)
        return [(name, share / total) for name, share in active]

    def _blend(self, raw: dict[str, np.ndarray], stats: dict[str, tuple]) -> np.ndarray:
        if self.config.source != "hybrid":
            return raw[self.config.source]
        n, n_items = len(next(iter(stats.values()))[0]), len(self.popularity_)
        out, tmp = np.zeros((n, n_items), np.float32), np.empty((n, n_items), np.float32)
        for name, weight in self._weights():
            mean, inv = stats[name]
            scale = inv * np.float32(weight)
            if name == "popularity":  # the same row for every user: standardise it once
                out += (raw[name][:1] - mean[:1]) * scale[:1]
            else:
                np.subtract(raw[name], mean, out=tmp)
                tmp *= scale
                out += tmp
        return out

    def _plan(self, k: int) -> list[tuple[str, int]]:
        """Slots per source in fill order: round(K·share), the last source takes the remainder."""
        weights, plan, used = self._weights(), [], 0
        for j, (name, share) in enumerate(weights):
            q = k - used if j == len(weights) - 1 else min(int(np.floor(k * share + 0.5)), k - used)
            plan.append((name, q))
            used += q
        return plan

    def _own(self, name: str, prep: Prepared, users: np.ndarray, scores: np.ndarray, eligible: np.ndarray,
             k: int) -> np.ndarray:
        """A source's own top K among eligible items, best first (ties by item position)."""
        if name == "popularity":
            return _first_valid(self.popularity_order_, eligible, k)
        if name == "topic":  # few distinct values: rank topics per user, then order by (topic rank, item)
            affinity = np.nan_to_num(prep.user_affinity[users], nan=0.0).astype(np.float32)
            level = (affinity[:, None, :] > affinity[:, :, None]).sum(axis=2)
            return _top_k_grouped(level, prep.item_topic, k, eligible)
        return top_k(scores, k, eligible).items

    def _chunk(self, prep: Prepared, users: np.ndarray, k: int) -> tuple[dict[str, np.ndarray], dict]:
        hybrid = self.config.source == "hybrid"
        raw = self._raw(prep, users, tuple(name for name, _ in self._weights()) if hybrid else (self.config.source,))
        stats = self._stats(prep, users, raw) if hybrid else {}
        stage1 = self._blend(raw, stats)
        eligible, removed = prep.eligible(users, self.config)
        n, n_items = len(users), prep.n_items
        rows = np.arange(n)[:, None]
        if not hybrid:
            s = SOURCE_NAMES.index(self.config.source)
            items = self._own(self.config.source, prep, users, stage1, eligible, k)
            valid = items != PAD
            return {"items": items, "scores": np.where(valid, stage1[rows, np.maximum(items, 0)], np.nan),
                    "source": np.where(valid, s, -1).astype(np.int8),
                    "source_mask": np.where(valid, 1 << s, 0).astype(np.uint8),
                    "n_eligible": np.count_nonzero(eligible, axis=1).astype(np.int32)}, removed
        items, slot_source = np.full((n, k), PAD, np.int32), np.full((n, k), -1, np.int8)
        filled, taken = np.zeros(n, np.int64), np.zeros((n, n_items), bool)
        members = np.zeros((n, n_items), np.uint8)  # bit s: item is in source s's own top K
        for name, q in self._plan(k):
            s = SOURCE_NAMES.index(name)
            own = self._own(name, prep, users, raw[name], eligible, k)
            r, c = np.nonzero(own != PAD)
            members[r, own[r, c]] |= np.uint8(1 << s)
            # a source constant for this user (CF without history) has no opinion: its slots go to the blend
            filled, r, slot = _take(items, filled, taken, own, q, stats[name][1] > 0)
            slot_source[r, slot] = s
        short = np.nonzero(filled < k)[0]
        if len(short):  # what the sources left is filled with the best remaining by blended score
            sub = items[short]
            best = top_k(stage1[short], k, eligible[short]).items
            _, r, slot = _take(sub, filled[short], taken[short], best, (k - filled[short])[:, None], True)
            items[short] = sub
            slot_source[short[r], slot] = self._top_contributor(raw, stats, short[r], sub[r, slot])
        valid = items != PAD
        perm = row_order(items, np.where(valid, stage1[rows, np.maximum(items, 0)], np.nan))
        items = np.take_along_axis(items, perm, axis=1)
        valid = items != PAD
        return {"items": items, "scores": np.where(valid, stage1[rows, np.maximum(items, 0)], np.nan),
                "source": np.take_along_axis(slot_source, perm, axis=1),
                "source_mask": np.where(valid, members[rows, np.maximum(items, 0)], 0).astype(np.uint8),
                "n_eligible": np.count_nonzero(eligible, axis=1).astype(np.int32)}, removed

    def _top_contributor(self, raw: dict, stats: dict, r: np.ndarray, it: np.ndarray) -> np.ndarray:
        """For blend-filled slots: the source whose weighted z-score adds most to the blend."""
        weights = self._weights()
        parts = [(raw[name][r, it] - stats[name][0][r, 0]) * stats[name][1][r, 0] * weight
                 for name, weight in weights]
        codes = np.array([SOURCE_NAMES.index(name) for name, _ in weights], np.int8)
        return codes[np.argmax(np.stack(parts), axis=0)] if len(r) else np.zeros(0, np.int8)


def _top_k_grouped(level: np.ndarray, group: np.ndarray, k: int, valid: np.ndarray) -> np.ndarray:
    """Top k when an item's score is its group's per-row level (lower is better), ties by position."""
    scores = np.take(-np.asarray(level, dtype=np.float32), group, axis=1)  # exact: levels are small integers
    return top_k(scores, k, valid).items


def _first_valid(order: np.ndarray, valid: np.ndarray, k: int) -> np.ndarray:
    """Each row's first k valid items along one global order (the top K of a user-independent source)."""
    n, m = valid.shape
    k = min(k, m)
    items = np.full((n, k), PAD, np.int32)
    todo, width = np.arange(n), min(m, max(4 * k, 64))
    while len(todo) and k:  # widen the scanned prefix only for rows that have not found k yet
        r, c = np.nonzero(valid[todo[:, None], order[:width]])
        counts = np.bincount(r, minlength=len(todo))
        rank = np.arange(len(r)) - np.repeat(np.cumsum(counts) - counts, counts)
        done = (counts >= k) | (width == m)
        keep = (rank < k) & done[r]
        items[todo[r[keep]], rank[keep]] = order[c[keep]]
        todo, width = todo[~done], min(m, width * 4)
    return items


def _take(items: np.ndarray, filled: np.ndarray, taken: np.ndarray, ranked: np.ndarray,
          quota: np.ndarray | int, allowed: np.ndarray | bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Append each row's first ``quota`` not-yet-taken items of a ranked list (items, taken in place).

    Returns the new fill counts and the (row, slot) of each placement. A ranked top K
    always holds enough untaken items, since at most K − quota slots are already filled.
    """
    rows = np.arange(len(ranked))[:, None]
    ok = (ranked != PAD) & ~taken[rows, np.maximum(ranked, 0)] & allowed
    upto = np.cumsum(ok, axis=1)
    pick = ok & (upto <= quota)
    r, c = np.nonzero(pick)
    slot = filled[r] + upto[r, c] - 1
    items[r, slot] = ranked[r, c]
    taken[r, ranked[r, c]] = True
    return filled + pick.sum(axis=1), r, slot


def _count_at_most(sorted_rows: np.ndarray, row: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Per pair, how many entries of its ascending row are ≤ value (vectorised binary search)."""
    width = sorted_rows.shape[1]
    lo, hi = np.zeros(len(row), np.int64), np.full(len(row), width, np.int64)
    while (lo < hi).any():
        mid = (lo + hi) // 2
        active = lo < hi
        go = active & (sorted_rows[row, np.minimum(mid, width - 1)] <= value)
        lo = np.where(go, mid + 1, lo)
        hi = np.where(active & ~go, mid, hi)
    return lo
