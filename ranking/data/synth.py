"""A synthetic news-feed world with planted ground truth: users, content and logged impressions.

Where it sits: the lab's data source. The seed tables are too small to rank with, so a
generated world gives every stage something real to learn and the metrics a known answer.

Planted structure. Each user has latent topic tastes θ (the stated ``topic_affinity_*``
columns are noisy observations of σ(θ)), hidden publisher preferences π, a propensity b and
a low-rank factor x; each item has a topic, a publisher, a quality q and a factor y::

    utility(u, i) = β0 + b_u + β_topic·θ[u, topic_i] + β_pub·π[u, pub_i] + β_q·(q_i − 0.5)
                    + β_cf·⟨x_u, y_i⟩ − β_block·[pub_i ∈ blocklist_u]
    p_engage(u, i) = σ(utility(u, i))

``p_engage`` is the truth: the probability of positive engagement with a *fresh*
impression (region eligibility not applied). At an impression the item is ``a`` days old and
the engagement probability is σ(utility − λ·a). Impressions come from a biased logging
policy: users ∝ session length, topic ∝ a mix of stated affinity and uniform, item within
the topic ∝ popularity (hidden buzz and quality), region-eligible only, shown soon after
publication. The truth is recomputed from the spec alone (``truth_from_spec``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ranking.data import schema as S
from ranking.data.dataset import Dataset
from ranking.data.formats import write_tables
from ranking.data.io import from_frames
from ranking.data.world import (  # noqa: F401  (WorldSpec, LatentTruth, truth_from_spec: part of this module's API)
    _TRUTH_TABLE_LIMIT,
    AFFINITY_COLUMNS,
    AGE_MAX_DAYS,
    AGE_MEAN_DAYS,
    BLOCKED_HIDE,
    DEVICES,
    ENGAGED_COMMENT_P,
    ENGAGED_DWELL_MEDIAN,
    ENGAGED_SHARE,
    FRESHNESS_PER_DAY,
    GENERATOR_VERSION,
    IDLE_CLICK,
    IDLE_COMMENT,
    IDLE_HIDE,
    IDLE_SHARE,
    TOPICS,
    LatentTruth,
    WorldSpec,
    _as_spec,
    _Population,
    _population,
    _sigmoid,
    _streams,
    truth_from_spec,
)
from ranking.errors import ConfigError


def _blocklists(pop: _Population) -> np.ndarray:
    """';'-joined publisher names per user ('' when none), most disliked first."""
    names = np.asarray(("", *pop.publishers), dtype=object)  # code -1 → ''
    codes = pop.blocklist_pubs + 1
    joined = pd.Series(names[codes[:, 0]], dtype=object) if codes.shape[1] else pd.Series([""] * len(codes))
    for j in range(1, codes.shape[1]):
        joined = joined + np.where(codes[:, j] > 0, ";", "") + names[codes[:, j]]
    return joined.to_numpy(dtype=object)


def _impressions(spec: WorldSpec, pop: _Population,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The logging policy's (user, item) positions: exactly n_interactions, unique while pairs last."""
    n, n_items, truth = spec.n_interactions, spec.n_items, pop.truth
    popularity = np.exp(pop.buzz + 2.0 * (truth.item_quality - 0.5))
    groups, avail = {}, np.zeros((len(S.REGIONS), len(TOPICS)), dtype=bool)
    for r in range(len(S.REGIONS)):
        for t in range(len(TOPICS)):
            items = np.flatnonzero((truth.item_topic == t) & ((pop.restriction < 0) | (pop.restriction == r)))
            if len(items):
                groups[r * len(TOPICS) + t] = (items, np.cumsum(popularity[items]))
                avail[r, t] = True
    stated = pop.stated + 1e-3  # a user stating 0 everywhere still picks a topic
    mix = spec.personalisation
    topic_p = (mix * stated / stated.sum(1, keepdims=True) + (1 - mix) / len(TOPICS)) * avail[pop.region]
    topic_cdf = np.cumsum(topic_p, axis=1)
    topic_cdf /= topic_cdf[:, -1:]  # ends at exactly 1.0, so an unavailable last topic is never drawn
    activity = pop.session / pop.session.sum()

    def draw(size: int) -> tuple[np.ndarray, np.ndarray]:
        u = rng.choice(len(activity), size, p=activity)
        t = (rng.random(size)[:, None] >= topic_cdf[u]).sum(1)  # first topic whose cdf exceeds the draw
        g = pop.region[u] * len(TOPICS) + t
        i = np.empty(size, dtype=np.int64)
        for key in np.unique(g):
            sel = np.flatnonzero(g == key)
            items, cum = groups[int(key)]
            pick = np.searchsorted(cum, rng.random(len(sel)) * cum[-1], side="right")
            i[sel] = items[np.minimum(pick, len(items) - 1)]
        return u, i

    users, items = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    for attempt in range(8):  # top up until enough distinct pairs, keeping first-drawn order
        if len(users) >= n:
            break
        u, i = draw(int((n - len(users)) * (1.25 if attempt == 0 else 4)) + 16)
        users, items = np.concatenate([users, u]), np.concatenate([items, i])
        first = np.sort(np.unique(users * n_items + items, return_index=True)[1])
        users, items = users[first], items[first]
    if len(users) < n:  # a nearly saturated world: repeat impressions fill the rest
        u, i = draw(n - len(users))
        users, items = np.concatenate([users, u]), np.concatenate([items, i])
    return users[:n], items[:n]


def _outcomes(truth: LatentTruth, u: np.ndarray, i: np.ndarray, age_days: np.ndarray,
              rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Post-impression signals drawn from the engagement probability at event time."""
    n = len(u)
    engaged = rng.random(n) < _sigmoid(truth.pair_utility(u, i) - FRESHNESS_PER_DAY * age_days)
    click = engaged | (rng.random(n) < IDLE_CLICK)
    long_dwell = np.minimum(rng.lognormal(np.log(ENGAGED_DWELL_MEDIAN), 0.45, n), 600.0)
    dwell = np.where(engaged, long_dwell, np.where(click, rng.uniform(0.0, 8.0, n), 0.0)).round(1)
    share = np.where(engaged, rng.random(n) < ENGAGED_SHARE, rng.random(n) < IDLE_SHARE)
    comment = np.where(engaged, rng.choice(3, n, p=ENGAGED_COMMENT_P), rng.random(n) < IDLE_COMMENT)
    blocked = truth.blocked[u, truth.item_publisher[i]]
    hide = ~engaged & (rng.random(n) < np.where(blocked, BLOCKED_HIDE, IDLE_HIDE))
    return {S.CLICK: click.astype(np.int64), S.DWELL: dwell, S.SHARE: share.astype(np.int64),
            S.COMMENT: comment.astype(np.int64), S.HIDE: hide.astype(np.int64), "engaged": engaged}


@dataclass(frozen=True, eq=False)
class World:
    """A generated world: the three tables in the seed schema, its truth and the spec that made it.

    ``engaged`` holds each interaction's hidden Bernoulli draw (input order), for calibration checks.
    """

    users: pd.DataFrame
    content: pd.DataFrame
    interactions: pd.DataFrame
    truth: LatentTruth
    spec: WorldSpec
    engaged: np.ndarray

    def to_dataset(self) -> Dataset:
        """Validated ``Dataset`` with the latent truth attached."""
        return from_frames(self.users, self.content, self.interactions, name=_name(self.spec),
                           truth=self.truth, spec=self.spec.to_dict())

    def truth_table(self) -> pd.DataFrame:
        """Long table user_id, content_id, p_engage for every user × item (user-major)."""
        ids = self.users[S.USER_ID].to_numpy(), self.content[S.CONTENT_ID].to_numpy()
        return _truth_table(self.truth, *ids)


def _name(spec: WorldSpec) -> str:
    return f"synthetic {spec.n_users}×{spec.n_items}×{spec.n_interactions} seed {spec.seed}"


def _truth_table(truth: LatentTruth, user_ids: np.ndarray, content_ids: np.ndarray) -> pd.DataFrame:
    size = truth.n_users * truth.n_items
    if size > _TRUTH_TABLE_LIMIT:
        raise ConfigError(f"truth table would have {size:,} rows; read it in chunks with truth.rows(...)")
    return pd.DataFrame({
        S.USER_ID: np.repeat(user_ids, truth.n_items), S.CONTENT_ID: np.tile(content_ids, truth.n_users),
        S.P_ENGAGE: truth.rows(np.arange(truth.n_users)).reshape(-1),
    })


def generate(spec: WorldSpec | dict | None = None) -> World:
    """Generate users, content and logged interactions with planted structure (deterministic per spec)."""
    spec = _as_spec(spec)
    pop, rng = _population(spec), _streams(spec)[3]
    truth, m = pop.truth, spec.n_users
    start = pd.Timestamp(spec.start)
    start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")

    users = pd.DataFrame({S.USER_ID: np.arange(1, m + 1), S.DEVICE: np.asarray(DEVICES)[pop.device],
                          S.REGION: np.asarray(S.REGIONS)[pop.region]})
    for t, col in enumerate(AFFINITY_COLUMNS):
        users[col] = pop.stated[:, t]
    users[S.SESSION] = pop.session
    users[S.BLOCKLIST] = _blocklists(pop)
    restriction = np.asarray((*S.REGIONS, S.ALL_REGIONS))[pop.restriction]  # -1 → ALL
    content = pd.DataFrame({
        S.CONTENT_ID: np.arange(101, 101 + spec.n_items),
        S.PUBLISHER: np.asarray(pop.publishers)[truth.item_publisher],
        S.TOPIC: np.asarray(TOPICS)[truth.item_topic], S.QUALITY: truth.item_quality,
        S.RESTRICTION: restriction,
        S.PUBLISHED: start + pd.to_timedelta(pop.published_s, unit="s"),
    })

    u, i = _impressions(spec, pop, rng)
    scale, cap = AGE_MEAN_DAYS * 86400, AGE_MAX_DAYS * 86400  # truncated exponential item age
    age_s = 60 + np.floor(-scale * np.log1p(-rng.random(len(u)) * -np.expm1(-cap / scale))).astype(np.int64)
    event_s = pop.published_s[i] + age_s
    out = _outcomes(truth, u, i, age_s / 86400, rng)
    order = np.lexsort((i, event_s, u))
    engaged = out.pop("engaged")[order]
    interactions = pd.DataFrame({S.USER_ID: u[order] + 1, S.CONTENT_ID: i[order] + 101,
                                 **{k: v[order] for k, v in out.items()},
                                 S.EVENT_TS: start + pd.to_timedelta(event_s[order], unit="s")})
    return World(users, content, interactions, truth, spec, engaged)


def write_world(world: World, out_dir: str | Path, include_truth: bool | None = None) -> None:
    """Write the three CSVs, world.json and (by default only when users × items ≤ 2,000,000) truth.csv."""
    if include_truth is None:
        include_truth = world.truth.n_users * world.truth.n_items <= 2_000_000
    write_tables(out_dir, world.users, world.content, world.interactions,
                 truth=world.truth_table() if include_truth else None, spec=world.spec.to_dict())
