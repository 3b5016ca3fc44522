"""A synthetic news-feed world with planted ground truth: users, content and logged impressions.

Where it sits: the lab's data source. The seed tables are too small to rank with, so a
generated world gives every stage something real to learn and the metrics a known answer.

The generative story, in order (every step deterministic per ``WorldSpec``):

1. **Population** (``ranking.data.world``). Publishers have a quality level and tendencies to
   clickbait, depth and controversy; items get a topic, publisher, quality, those three hidden
   traits, a latent factor, a hidden "buzz" and a publication time spread over the logged
   period (from a week before it starts) plus a burst in the last day before "now" (the end of
   the log, the serving time). Users get latent topic tastes θ (the stated ``topic_affinity_*``
   are noisy views of σ(θ)), publisher preferences, a bias, a latent factor, hidden propensities
   to share and to comment, and sometimes a blocklist of disliked publishers.
2. **Signals** (``ranking.data.latent``). Each signal has its own causes and its own decay with
   item age: clickbait buys clicks but short dwell and hides, depth buys long dwell and shares,
   controversy buys comments and shares but also hides. An impression in slate slot p is
   examined with probability 1/log2(p + 1); nothing happens without examination.
3. **Logging policy** (``ranking.data.policy``). Visits show slates of ``slate_size`` items drawn
   without replacement from a biased, partly personalised, freshness-loving policy; each row
   logs its ``position`` and ``propensity``.
4. **Outcomes** (here). Drawn from exactly the expectations the library computes:
   examined ~ Bernoulli(1/log2(p+1)); click ~ Bernoulli(P(click)) if examined; dwell ~ lognormal
   if clicked (seconds, rounded to 0.1); share ~ Bernoulli(P(share)) if examined; comments 1 with
   P(comment ≥ 1 | click), a second with probability 0.3, if clicked; hide ~ Bernoulli(P(hide |
   no click)) if examined and not clicked.
5. **Titles** (``ranking.data.titles``): "Publisher: headline" from templates per topic.

The truth (``LatentTruth.signals`` / ``gain`` / ``rows``) is every signal's expectation for an
examined impression at each item's real age at "now", recomputed from the spec alone
(``truth_from_spec``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ranking.data import schema as S
from ranking.data.dataset import Dataset
from ranking.data.formats import write_tables
from ranking.data.io import from_frames
from ranking.data.latent import DWELL_SIGMA, LatentTruth, examination
from ranking.data.policy import impressions
from ranking.data.titles import headlines
from ranking.data.truth import SECOND_COMMENT
from ranking.data.world import (  # noqa: F401  (WorldSpec, LatentTruth, truth_from_spec: part of this module's API)
    _TRUTH_TABLE_LIMIT,
    AFFINITY_COLUMNS,
    DEVICES,
    GENERATOR_VERSION,
    TOPICS,
    WorldSpec,
    _as_spec,
    _Population,
    _population,
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


def _outcomes(truth: LatentTruth, u: np.ndarray, i: np.ndarray, age_days: np.ndarray, position: np.ndarray,
              rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Post-impression signals drawn from the model's parameters at event age and slate position."""
    n = len(u)
    p = truth.pair_params(u, i, age_days)
    examined = rng.random(n) < examination(position)
    click = examined & (rng.random(n) < p["p_click"])
    dwell = np.where(click, np.exp(p["dwell_mu"] + DWELL_SIGMA * rng.standard_normal(n)), 0.0).round(1)
    share = examined & (rng.random(n) < p["p_share"])
    comment = np.where(click & (rng.random(n) < p["p_comment"]), 1 + (rng.random(n) < SECOND_COMMENT), 0)
    hide = examined & ~click & (rng.random(n) < p["p_hide"])
    return {S.CLICK: click.astype(np.int64), S.DWELL: dwell, S.SHARE: share.astype(np.int64),
            S.COMMENT: comment.astype(np.int64), S.HIDE: hide.astype(np.int64), "examined": examined}


@dataclass(frozen=True, eq=False)
class World:
    """A generated world: the three tables in the seed schema, its truth and the spec that made it.

    ``examined`` holds each interaction's hidden examination draw (row order), for checks.
    """

    users: pd.DataFrame
    content: pd.DataFrame
    interactions: pd.DataFrame
    truth: LatentTruth
    spec: WorldSpec
    examined: np.ndarray

    def to_dataset(self) -> Dataset:
        """Validated ``Dataset`` with the latent truth attached."""
        return from_frames(self.users, self.content, self.interactions, name=_name(self.spec),
                           truth=self.truth, spec=self.spec.to_dict())

    def truth_table(self) -> pd.DataFrame:
        """Long table user_id, content_id and one column per signal for every user × item (user-major)."""
        ids = self.users[S.USER_ID].to_numpy(), self.content[S.CONTENT_ID].to_numpy()
        return _truth_table(self.truth, *ids)


def _name(spec: WorldSpec) -> str:
    return f"synthetic {spec.n_users}×{spec.n_items}×{spec.n_interactions} seed {spec.seed}"


def _truth_table(truth: LatentTruth, user_ids: np.ndarray, content_ids: np.ndarray) -> pd.DataFrame:
    size = truth.n_users * truth.n_items
    if size > _TRUTH_TABLE_LIMIT:
        raise ConfigError(f"truth table would have {size:,} rows; read it in chunks with truth.rows(...)")
    signals = truth.signals(np.arange(truth.n_users))
    return pd.DataFrame({
        S.USER_ID: np.repeat(user_ids, truth.n_items), S.CONTENT_ID: np.tile(content_ids, truth.n_users),
        **{name: signals[name].reshape(-1) for name in S.SIGNALS},
    })


def generate(spec: WorldSpec | dict | None = None, progress: Callable[[float, str], None] | None = None) -> World:
    """Generate users, content and logged interactions with planted structure (deterministic per spec).

    ``progress(fraction, message)`` hears of every bounded step (population, each round of the log,
    outcomes); an exception it raises stops the generation (a cancel, a time budget).
    """
    report = progress or (lambda fraction, message: None)
    spec = _as_spec(spec)
    report(0.0, "drawing users and items")
    pop = _population(spec)
    streams = _streams(spec)
    rng = streams[3]
    truth, m = pop.truth, spec.n_users
    start = spec.start_ts

    users = pd.DataFrame({S.USER_ID: np.arange(1, m + 1), S.DEVICE: np.asarray(DEVICES)[pop.device],
                          S.REGION: np.asarray(S.REGIONS)[pop.region]})
    for t, col in enumerate(AFFINITY_COLUMNS):
        users[col] = pop.stated[:, t]
    users[S.SESSION] = pop.session
    users[S.BLOCKLIST] = _blocklists(pop)
    restriction = np.asarray((*S.REGIONS, S.ALL_REGIONS))[pop.restriction]  # -1 → ALL
    topics = np.asarray(TOPICS)[truth.item_topic]
    publishers = np.asarray(pop.publishers)[truth.item_publisher]
    content = pd.DataFrame({
        S.CONTENT_ID: np.arange(101, 101 + spec.n_items), S.PUBLISHER: publishers, S.TOPIC: topics,
        S.QUALITY: truth.item_quality, S.RESTRICTION: restriction,
        S.PUBLISHED: start + pd.to_timedelta(pop.published_s, unit="s"),
        S.TITLE: headlines(topics.tolist(), publishers.tolist(), truth.clickbait, streams[4]),
    })

    report(0.1, "logging impressions")
    log = impressions(spec, pop, rng, lambda f, message: report(0.1 + 0.8 * f, message))
    report(0.9, "drawing what users did")
    u, i, event_s = log["user"], log["item"], log["event_s"]
    out = _outcomes(truth, u, i, (event_s - pop.published_s[i]) / 86400, log["position"], rng)
    order = np.lexsort((log["position"], event_s, u))
    examined = out.pop("examined")[order]
    interactions = pd.DataFrame({S.USER_ID: u[order] + 1, S.CONTENT_ID: i[order] + 101,
                                 **{k: v[order] for k, v in out.items()},
                                 S.EVENT_TS: start + pd.to_timedelta(event_s[order], unit="s"),
                                 S.POSITION: log["position"][order],
                                 S.PROPENSITY: log["propensity"][order].astype(np.float32)})
    report(1.0, "generated")
    return World(users, content, interactions, truth, spec, examined)


def write_world(world: World, out_dir: str | Path, include_truth: bool | None = None) -> None:
    """Write the three CSVs, world.json and (by default only when users × items ≤ 2,000,000) truth.csv."""
    if include_truth is None:
        include_truth = world.truth.n_users * world.truth.n_items <= 2_000_000
    write_tables(out_dir, world.users, world.content, world.interactions,
                 truth=world.truth_table() if include_truth else None, spec=world.spec.to_dict())
