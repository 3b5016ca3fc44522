"""A generated world as a live audience: days pass, items age, new items appear, users visit and react.

Where it sits: under ``ranking.online`` (A/B tests, interleaving, the feedback loop). It takes a
generated world's population (``ranking.data.world``) and samples outcomes exactly as the generator
does (``ranking.data.synth._outcomes``: examination 1/log2(slot + 1), then each signal from
``ranking.data.latent``), so a served impression is as real as a logged one.

One simulated day, from serving time ``now``:

1. the policy (or a pair of them) ranks the eligible items for every user at ``now``: published at
   least a minute before, at most ``max_age_days`` old, allowed in the user's region, not from a
   publisher the user blocked;
2. each user visits Poisson(λ_u) times, λ_u = the logging period's visits per day × the user's share of
   ``avg_session_length`` (as the logging policy draws visits); a visit shows the slate, slot p at
   5·(p − 1) s after the visit starts;
3. outcomes are drawn at each impression's age and slot;
4. new items are published during the day, Poisson(the world's rate = n_items / (7 + days) per
   day), drawn from the world's own publishers, topics, quality and traits; they are eligible from
   the next day;
5. ``now`` moves on by a day.

The users never tire of an item (the generator has no fatigue), so nothing filters items already shown.
Deterministic per (world, ``seed``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pandas as pd

from ranking.data import schema as S
from ranking.data.dataset import Dataset
from ranking.data.io import from_frames
from ranking.data.latent import LatentTruth
from ranking.data.policy import SLOT_SECONDS
from ranking.data.synth import _outcomes
from ranking.data.titles import headlines
from ranking.data.world import (
    MAIN_TOPIC_SHARE,
    PREHISTORY_DAYS,
    RESTRICTED_TO,
    TOPIC_TRAITS,
    TOPICS,
    TRAIT_NOISE,
    WorldSpec,
    _population,
    _publisher_names,
    _streams,
)
from ranking.errors import DataError

SLATE = 10
DAY_S = 86400
OUTCOME_COLUMNS = (S.CLICK, S.DWELL, S.SHARE, S.COMMENT, S.HIDE)
# Slates: (n_users, SLATE) item positions, -1 padded; a function of the world at its current "now".
SlateFn = Callable[["LiveWorld"], np.ndarray]


def no_world_message(dataset: Dataset) -> str:
    """Why a dataset cannot be served to (uploads and MIND have no world behind them)."""
    return (f"{dataset.name} has no generated world behind it (no world.json): nobody is there to serve a "
            "feed to. Online tests need a generated world (the bundled sample, or Generate a world).")


def _publisher_params(spec: WorldSpec) -> tuple[np.ndarray, ...]:
    """Each publisher's main topic, quality, size and traits: the first draws of the world's publisher stream.

    Same draws, same order as ``ranking.data.world._population`` (which does not return them)."""
    r_pub = _streams(spec)[0]
    n_pub = spec.publishers
    _, main_topic = _publisher_names(n_pub)
    quality, size = r_pub.beta(6.0, 4.0, n_pub), r_pub.lognormal(0.0, 0.6, n_pub)
    traits = np.stack([r_pub.beta(1.2, 3.5, n_pub), r_pub.beta(3.0, 3.0, n_pub), r_pub.beta(1.2, 3.5, n_pub)], 1)
    return main_topic, quality, size / size.sum(), traits


class LiveWorld:
    """A generated world served day by day; ``log`` grows with every served impression (world positions)."""

    def __init__(self, dataset: Dataset, seed: int = 0, max_age_days: float = 7.0):
        if not dataset.spec:
            raise DataError([no_world_message(dataset)])
        self.spec = WorldSpec.from_dict({k: v for k, v in dataset.spec.items() if k != "now"})
        spec = self.spec
        ids_u = dataset.users[S.USER_ID].to_numpy(np.int64)
        ids_i = dataset.content[S.CONTENT_ID].to_numpy(np.int64)
        if not (np.array_equal(ids_u, np.arange(1, spec.n_users + 1))
                and np.array_equal(ids_i[:spec.n_items], np.arange(101, 101 + spec.n_items))):
            raise DataError(["the tables are not the world their world.json describes (ids in generated order)"])
        self.dataset, self.seed, self.max_age_days = dataset, seed, float(max_age_days)
        pop = _population(spec)
        self.names = pop.publishers
        self.truth: LatentTruth = pop.truth
        self.region, self.restriction = pop.region, pop.restriction
        self.published_s = pop.published_s.astype(np.int64)
        self.blocked = pop.truth.blocked
        self._pub = _publisher_params(spec)
        visits_per_day = spec.n_interactions / spec.slate_size / spec.days
        self.visit_rate = visits_per_day * pop.session / pop.session.sum()
        self.item_rate = spec.n_items / (PREHISTORY_DAYS + spec.days)
        self.now_s = spec.days * DAY_S
        self.day = 0
        self.rng = np.random.default_rng(np.random.SeedSequence([spec.seed, seed, 7]))
        self.item_rng = np.random.default_rng(np.random.SeedSequence([spec.seed, seed, 11]))
        self.new_content: list[pd.DataFrame] = []
        self.log: list[dict[str, np.ndarray]] = []

    # -- the catalogue ---------------------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        return self.truth.n_users

    @property
    def n_items(self) -> int:
        return self.truth.n_items

    def ages(self, at_s: int | None = None) -> np.ndarray:
        """Each item's age in days at ``at_s`` (default: now); negative before its publication."""
        return ((self.now_s if at_s is None else at_s) - self.published_s) / DAY_S

    def eligible(self) -> np.ndarray:
        """bool (n_users, n_items): what may be served now (published, young enough, region, not blocked)."""
        age = self.ages()
        live = (self.published_s <= self.now_s - 60) & (age <= self.max_age_days)
        region_ok = (self.restriction[None, :] < 0) | (self.restriction[None, :] == self.region[:, None])
        blocked = self.blocked[:, self.truth.item_publisher]
        return live[None, :] & region_ok & ~blocked

    def truth_now(self) -> LatentTruth:
        """The truth with every item's age at the current "now" (``signals``/``gain`` at serving time)."""
        return dataclasses.replace(self.truth, age_now=self.ages())

    def _publish(self, start_s: int, rng: np.random.Generator) -> None:
        """New items published in [start_s, start_s + 1 day), drawn as the world draws its items."""
        n = int(rng.poisson(self.item_rate))
        if n == 0:
            return
        main_topic, pub_quality, pub_p, pub_traits = self._pub
        spec, t = self.spec, self.truth
        pub = rng.choice(len(pub_p), n, p=pub_p)
        topic = np.where(rng.random(n) < MAIN_TOPIC_SHARE, main_topic[pub], rng.integers(0, len(TOPICS), n))
        quality = np.clip(pub_quality[pub] + rng.normal(0.0, 0.12, n), 0.0, 1.0).round(2)
        codes = np.array([S.REGIONS.index(r) for r in RESTRICTED_TO])
        restriction = np.where(rng.random(n) < spec.restricted_share, codes[rng.integers(0, len(codes), n)], -1)
        published = (start_s + rng.integers(0, DAY_S, n)) // 60 * 60
        factors = rng.standard_normal((n, spec.n_factors)) / spec.n_factors**0.25
        traits = np.clip(pub_traits[pub] + np.asarray(TOPIC_TRAITS)[topic] + rng.normal(0.0, TRAIT_NOISE, (n, 3)),
                         0.0, 1.0)
        first = t.n_items
        self.truth = dataclasses.replace(
            t, item_topic=np.concatenate([t.item_topic, topic]), item_publisher=np.concatenate([t.item_publisher, pub]),
            item_quality=np.concatenate([t.item_quality, quality]),
            item_factors=np.concatenate([t.item_factors, factors]),
            clickbait=np.concatenate([t.clickbait, traits[:, 0]]), depth=np.concatenate([t.depth, traits[:, 1]]),
            controversy=np.concatenate([t.controversy, traits[:, 2]]), age_now=np.concatenate([t.age_now, np.zeros(n)]))
        self.restriction = np.concatenate([self.restriction, restriction])
        self.published_s = np.concatenate([self.published_s, published])
        topics, pubs = np.asarray(TOPICS)[topic], np.asarray(self.names)[pub]
        self.new_content.append(pd.DataFrame({
            S.CONTENT_ID: np.arange(101 + first, 101 + first + n), S.PUBLISHER: pubs, S.TOPIC: topics,
            S.QUALITY: quality, S.RESTRICTION: np.asarray((*S.REGIONS, S.ALL_REGIONS))[restriction],
            S.PUBLISHED: spec.start_ts + pd.to_timedelta(published, unit="s"),
            S.TITLE: headlines(topics.tolist(), pubs.tolist(), traits[:, 0], rng)}))

    # -- serving ---------------------------------------------------------------------------------------
    def visits(self) -> tuple[np.ndarray, np.ndarray]:
        """Today's visits: (user position, start second), in time order."""
        counts = self.rng.poisson(self.visit_rate)
        users = np.repeat(np.arange(self.n_users), counts)
        start = self.now_s + self.rng.integers(0, DAY_S - SLOT_SECONDS * SLATE, len(users))
        order = np.argsort(start, kind="stable")
        return users[order], start[order]

    def serve(self, slates: np.ndarray, users: np.ndarray, start: np.ndarray,
              propensity: np.ndarray | None = None, extra: dict[str, np.ndarray] | None = None
              ) -> dict[str, np.ndarray]:
        """Show each visit (``users``, ``start``) its row of ``slates`` (n_visits, L) and draw the outcomes.

        ``propensity`` (shaped like ``slates``, default 1: a deterministic policy) and ``extra`` (per-slot
        arrays shaped like ``slates``) are carried into the log. Returns this batch's log (world positions)."""
        v, slot = np.nonzero(slates >= 0)
        item, u = slates[v, slot], users[v]
        event = start[v] + SLOT_SECONDS * slot
        out = _outcomes(self.truth, u, item, (event - self.published_s[item]) / DAY_S, slot + 1, self.rng)
        out.pop("examined")
        prop = np.ones(len(v)) if propensity is None else propensity[v, slot]
        batch = {"user": u, "item": item, "position": slot + 1, "event_s": event, "visit": v,
                 "propensity": prop, **out, **{k: a[v, slot] for k, a in (extra or {}).items()}}
        self.log.append(batch)
        return batch

    def end_day(self) -> None:
        """Publish the day's new items and move ``now`` on by a day."""
        self._publish(self.now_s, self.item_rng)
        self.now_s += DAY_S
        self.day += 1

    def run_days(self, days: int, slates: SlateFn, propensity: Callable | None = None) -> dict[str, np.ndarray]:
        """Serve ``days`` days with one slate function (re-ranked every morning); the period's log.

        ``propensity(world, slates)``: each slot's logged propensity (default 1: a deterministic ranking)."""
        parts = []
        for _ in range(days):
            users, start = self.visits()
            today = slates(self)
            prop = propensity(self, today)[users] if propensity is not None else None
            parts.append(self.serve(today[users], users, start, prop))
            self.end_day()
        return concat(parts)

    # -- as a dataset -----------------------------------------------------------------------------------
    def content(self) -> pd.DataFrame:
        """The catalogue now: the world's items and every item published since."""
        return pd.concat([self.dataset.content, *self.new_content], ignore_index=True)

    def interactions(self, log: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
        """A log in the lab's interaction schema (ids, outcomes, time, position, propensity)."""
        log = concat(self.log) if log is None else log
        return log_frame(log, self.spec)

    def to_dataset(self) -> Dataset:
        """The world's log plus everything served so far, with the truth at the current "now"."""
        inter = pd.concat([self.dataset.interactions, self.interactions()], ignore_index=True)
        now = (self.spec.start_ts + pd.Timedelta(seconds=int(self.now_s))).strftime("%Y-%m-%dT%H:%M:%SZ")
        return from_frames(self.dataset.users, self.content(), inter, name=f"{self.dataset.name} + day {self.day}",
                           truth=self.truth_now(), spec={**self.spec.to_dict(), "now": now})


def concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One log from several batches (keys of the first)."""
    if not parts:
        return {k: np.zeros(0) for k in ("user", "item", "position", "event_s", "propensity", *OUTCOME_COLUMNS)}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def log_frame(log: dict[str, np.ndarray], spec: WorldSpec) -> pd.DataFrame:
    """The log's columns in the lab's interaction schema, sorted by user, time, position."""
    order = np.lexsort((log["position"], log["event_s"], log["user"]))
    return pd.DataFrame({
        S.USER_ID: log["user"][order].astype(np.int64) + 1, S.CONTENT_ID: log["item"][order].astype(np.int64) + 101,
        **{c: log[c][order] for c in OUTCOME_COLUMNS},
        S.EVENT_TS: spec.start_ts + pd.to_timedelta(log["event_s"][order].astype(np.int64), unit="s"),
        S.POSITION: log["position"][order].astype(np.int64),
        S.PROPENSITY: log["propensity"][order].astype(np.float32)})
