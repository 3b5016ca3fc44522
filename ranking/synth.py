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

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from ranking import schema as S
from ranking.dataset import Dataset
from ranking.errors import ConfigError, DataError

GENERATOR_VERSION = 1
TOPICS = ("politics", "technology", "sports", "business", "entertainment")
AFFINITY_COLUMNS = tuple(S.AFFINITY_PREFIX + t
                         for t in ("politics", "tech", "sports", "business", "entertainment"))
DEVICES, DEVICE_P = ("mobile", "desktop", "tablet"), (0.6, 0.3, 0.1)
REGION_P = (0.3, 0.25, 0.25, 0.08, 0.06, 0.06)  # over schema.REGIONS
RESTRICTED_TO = ("NA", "EU", "AS")
# (name, main topic index); the first ten are the seed's publishers
PUBLISHERS = (
    ("TheDailyNews", 0), ("FocusTech", 1), ("SportZone", 2), ("InsightPost", 0), ("DigiTrends", 1),
    ("GlobalSports", 2), ("NewHorizons", 3), ("NewsNow", 4), ("TechGuru", 1), ("WorldWideNews", 0),
    ("MarketPulse", 3), ("StarBuzz", 4), ("CapitolWire", 0), ("ReelTalk", 4), ("LedgerDaily", 3),
)

# Utility coefficients (see module docstring); θ, π, x·y are standard-normal scale.
B0, B_TOPIC, B_PUB, B_QUALITY, B_CF, B_BLOCK, USER_BIAS_SD = -1.0, 1.0, 0.6, 2.5, 0.8, 6.0, 0.4
FRESHNESS_PER_DAY = 0.3  # λ: logit lost per day of item age at the impression
MAIN_TOPIC_SHARE = 0.6  # share of a publisher's items on its main topic
AGE_MEAN_DAYS, AGE_MAX_DAYS = 1.5, 7.0  # impressions happen soon after publication
IDLE_CLICK, IDLE_SHARE, IDLE_COMMENT, IDLE_HIDE, BLOCKED_HIDE = 0.3, 0.01, 0.03, 0.03, 0.5
ENGAGED_SHARE, ENGAGED_COMMENT_P, ENGAGED_DWELL_MEDIAN = 0.35, (0.5, 0.3, 0.2), 35.0
_TRUTH_TABLE_LIMIT = 20_000_000
_CHUNK_CELLS = 2**18  # users × items per step of LatentTruth.rows: temporaries stay in cache


@dataclass(frozen=True)
class WorldSpec:
    """Everything that determines a generated world; the same spec always gives the same world.

    ``n_publishers`` None → max(10, n_items // 30), at most n_items; ``n_factors``: rank of the latent
    collaborative-filtering factor; ``affinity_noise``: sd of the noise on stated affinities;
    ``restricted_share``: items restricted to one region (NA/EU/AS); ``blocklist_share``: users
    blocking 1–3 (mostly disliked) publishers; ``personalisation``: weight of stated affinity
    in the logging policy's topic choice; ``start``/``days``: the publication window (UTC).
    """

    n_users: int = 1000
    n_items: int = 300
    n_interactions: int = 20000
    seed: int = 0
    n_publishers: int | None = None
    n_factors: int = 8
    affinity_noise: float = 0.2
    restricted_share: float = 0.2
    blocklist_share: float = 0.15
    personalisation: float = 0.5
    start: str = "2025-04-01"
    days: int = 30

    def __post_init__(self) -> None:
        problems = [f"{k} must be an integer ≥ {lo}, got {getattr(self, k)!r}"
                    for k, lo in (("n_users", 1), ("n_items", 1), ("n_interactions", 1), ("seed", 0),
                                  ("n_factors", 1), ("days", 1))
                    if isinstance(getattr(self, k), bool) or not isinstance(getattr(self, k), int)
                    or getattr(self, k) < lo]
        for k, hi in (("affinity_noise", 1.0), ("restricted_share", 0.99), ("blocklist_share", 1.0),
                      ("personalisation", 1.0)):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v <= hi:
                problems.append(f"{k} must be a number in [0, {hi}], got {v!r}")
        n_pub = self.n_publishers
        if n_pub is not None and (isinstance(n_pub, bool) or not isinstance(n_pub, int)
                                  or not 1 <= n_pub <= self.n_items):
            problems.append(f"n_publishers must be None or an integer in [1, n_items], got {n_pub!r}")
        try:
            if pd.isna(pd.Timestamp(self.start)):
                raise ValueError
        except (ValueError, TypeError):
            problems.append(f"start must be a date such as '2025-04-01', got {self.start!r}")
        if problems:
            raise ConfigError("; ".join(problems))

    @property
    def publishers(self) -> int:
        """The number of publishers, resolved."""
        return self.n_publishers or min(self.n_items, max(10, self.n_items // 30))

    def to_dict(self) -> dict:
        """JSON-able fields plus ``generator_version``."""
        return {**dataclasses.asdict(self), "generator_version": GENERATOR_VERSION}

    @classmethod
    def from_dict(cls, raw: dict) -> WorldSpec:
        """Inverse of ``to_dict``; refuses unknown keys and other generator versions."""
        raw = dict(raw)
        version = raw.pop("generator_version", GENERATOR_VERSION)
        if version != GENERATOR_VERSION:
            raise ConfigError(f"world made by generator version {version}; this is {GENERATOR_VERSION}")
        valid = {f.name for f in dataclasses.fields(cls)}
        if unknown := sorted(set(raw) - valid):
            raise ConfigError(f"unknown world spec keys {unknown}; valid: {', '.join(sorted(valid))}")
        return cls(**raw)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True, eq=False)
class LatentTruth:
    """The world's latent parameters; ``rows`` computes p_engage = σ(utility) on demand (a ``Truth``)."""

    taste: np.ndarray  # θ (n_users, 5), topics in TOPICS order
    bias: np.ndarray  # b (n_users,)
    pub_pref: np.ndarray  # π (n_users, n_publishers) float32
    blocked: np.ndarray  # bool (n_users, n_publishers)
    user_factors: np.ndarray  # x (n_users, k)
    item_topic: np.ndarray  # int code into TOPICS (n_items,)
    item_publisher: np.ndarray  # int code into publisher names (n_items,)
    item_quality: np.ndarray  # q as published in quality_score (n_items,)
    item_factors: np.ndarray  # y (n_items, k)

    @property
    def n_users(self) -> int:
        return len(self.bias)

    @property
    def n_items(self) -> int:
        return len(self.item_topic)

    @cached_property
    def _combos(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Distinct (topic, publisher) of the items, and each item's combo: far fewer than items."""
        n_pub = int(self.pub_pref.shape[1])
        codes, of_item = np.unique(self.item_topic * n_pub + self.item_publisher, return_inverse=True)
        return codes // n_pub, codes % n_pub, of_item

    @cached_property
    def _item_factors_t(self) -> np.ndarray:
        return np.ascontiguousarray(self.item_factors.T)

    def utility(self, user_pos: np.ndarray) -> np.ndarray:
        """float64 (len(user_pos), n_items) static utility."""
        u = np.asarray(user_pos)
        topic, pub, of_item = self._combos
        # user × (topic, publisher) terms on the few combos, then one gather (saves memory traffic)
        per_combo = (B_TOPIC * self.taste[u][:, topic] + B_PUB * self.pub_pref[u][:, pub]
                     - B_BLOCK * self.blocked[u][:, pub])
        # einsum, not BLAS: many small products, where a threaded BLAS thrashes on a busy machine
        out = np.einsum("uk,ki->ui", self.user_factors[u], self._item_factors_t)
        out *= B_CF
        out += per_combo[:, of_item]
        out += (B_QUALITY * (self.item_quality - 0.5))[None, :]
        out += (B0 + self.bias[u])[:, None]
        return out

    def rows(self, user_pos: np.ndarray) -> np.ndarray:
        """float32 p_engage (len(user_pos), n_items), computed a few users at a time."""
        u = np.asarray(user_pos, dtype=np.int64).reshape(-1)
        out = np.empty((len(u), self.n_items), dtype=np.float32)
        chunk = max(1, _CHUNK_CELLS // max(1, self.n_items))
        for lo in range(0, len(u), chunk):
            x = self.utility(u[lo:lo + chunk])
            np.negative(x, out=x)
            np.exp(x, out=x)
            x += 1.0
            np.divide(1.0, x, out=out[lo:lo + chunk], casting="same_kind")
        return out

    def pair_utility(self, user_pos: np.ndarray, item_pos: np.ndarray) -> np.ndarray:
        """Static utility of given (user, item) pairs (float64, same formula as ``utility``)."""
        u, i = np.asarray(user_pos), np.asarray(item_pos)
        pub = self.item_publisher[i]
        return (B0 + self.bias[u] + B_TOPIC * self.taste[u, self.item_topic[i]]
                + B_PUB * self.pub_pref[u, pub] + B_QUALITY * (self.item_quality[i] - 0.5)
                + B_CF * np.einsum("ij,ij->i", self.user_factors[u], self.item_factors[i])
                - B_BLOCK * self.blocked[u, pub])

    def subset(self, user_pos: np.ndarray, item_pos: np.ndarray) -> LatentTruth:
        """The truth for these users and items, in this order."""
        u, i = np.asarray(user_pos), np.asarray(item_pos)
        return LatentTruth(self.taste[u], self.bias[u], self.pub_pref[u], self.blocked[u],
                           self.user_factors[u], self.item_topic[i], self.item_publisher[i],
                           self.item_quality[i], self.item_factors[i])


@dataclass(frozen=True, eq=False)
class _Population:
    """Users and items before any impression: the truth plus what the tables and the policy need."""

    truth: LatentTruth
    publishers: tuple[str, ...]
    device: np.ndarray
    region: np.ndarray  # code into schema.REGIONS
    stated: np.ndarray  # (n_users, 5) rounded stated affinities
    session: np.ndarray
    restriction: np.ndarray  # -1 = ALL, else code into schema.REGIONS
    published_s: np.ndarray  # seconds after spec.start
    buzz: np.ndarray  # hidden popularity the logging policy favours
    blocklist_pubs: np.ndarray  # (n_users, ≤3) blocked publisher codes, most disliked first; -1 = none


def _streams(spec: WorldSpec) -> list[np.random.Generator]:
    """Independent generators for publishers, items, users and the log (so sizes don't leak)."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(spec.seed).spawn(4)]


def _publisher_names(n: int) -> tuple[tuple[str, ...], np.ndarray]:
    base = len(PUBLISHERS)
    names = tuple(PUBLISHERS[p % base][0] + (str(p // base + 1) if p >= base else "") for p in range(n))
    return names, np.array([PUBLISHERS[p % base][1] for p in range(n)])


def _population(spec: WorldSpec) -> _Population:
    r_pub, r_item, r_user, _ = _streams(spec)
    n_pub, n, m, k = spec.publishers, spec.n_items, spec.n_users, spec.n_factors
    names, main_topic = _publisher_names(n_pub)
    pub_quality, pub_size = r_pub.beta(6.0, 4.0, n_pub), r_pub.lognormal(0.0, 0.6, n_pub)

    # every publisher gets at least one item, so blocklists always name a publisher that exists
    extra = r_item.choice(n_pub, n - n_pub, p=pub_size / pub_size.sum())
    pub = r_item.permutation(np.concatenate([np.arange(n_pub), extra]))
    topic = np.where(r_item.random(n) < MAIN_TOPIC_SHARE, main_topic[pub], r_item.integers(0, len(TOPICS), n))
    quality = np.clip(pub_quality[pub] + r_item.normal(0.0, 0.12, n), 0.0, 1.0).round(2)
    restricted = r_item.random(n) < spec.restricted_share
    restricted[0] = restricted[0] and not restricted.all()  # some item must be eligible everywhere
    region_codes = np.array([S.REGIONS.index(r) for r in RESTRICTED_TO])
    restriction = np.where(restricted, region_codes[r_item.integers(0, len(RESTRICTED_TO), n)], -1)
    published_s = r_item.integers(0, spec.days * 86400, n) // 60 * 60
    buzz, item_factors = r_item.standard_normal(n), r_item.standard_normal((n, k)) / k**0.25

    device, region = r_user.choice(len(DEVICES), m, p=DEVICE_P), r_user.choice(len(S.REGIONS), m, p=REGION_P)
    taste = r_user.standard_normal((m, len(TOPICS)))
    noise = r_user.normal(0.0, spec.affinity_noise, taste.shape)
    stated = np.clip(_sigmoid(taste) + noise, 0.0, 1.0).round(2)
    session = np.clip(r_user.lognormal(np.log(5.5), 0.45, m), 1.0, 30.0).round(2)
    bias, user_factors = r_user.normal(0.0, USER_BIAS_SD, m), r_user.standard_normal((m, k)) / k**0.25
    pub_pref = r_user.standard_normal((m, n_pub), dtype=np.float32)
    blockers = np.flatnonzero(r_user.random(m) < spec.blocklist_share)
    n_blocked = np.minimum(r_user.integers(1, 4, len(blockers)), n_pub)
    # Gumbel top-k: blocked publishers drawn without replacement ∝ exp(−1.5·π), i.e. mostly disliked ones
    keys = -1.5 * pub_pref[blockers] + r_user.gumbel(size=(len(blockers), n_pub))
    ranked = np.argsort(-keys, axis=1, kind="stable")[:, :3]
    block_pubs = np.full((m, ranked.shape[1]), -1)
    block_pubs[blockers] = np.where(np.arange(ranked.shape[1])[None, :] < n_blocked[:, None], ranked, -1)
    blocked = np.zeros((m, n_pub), dtype=bool)
    rows, cols = np.nonzero(block_pubs >= 0)
    blocked[rows, block_pubs[rows, cols]] = True
    truth = LatentTruth(taste, bias, pub_pref, blocked, user_factors, topic, pub, quality, item_factors)
    return _Population(truth, names, device, region, stated, session, restriction, published_s, buzz,
                       block_pubs)


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
        from ranking.data import from_frames

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


def _as_spec(spec: WorldSpec | dict | None) -> WorldSpec:
    if spec is None:
        return WorldSpec()
    return spec if isinstance(spec, WorldSpec) else WorldSpec.from_dict(spec)


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


def truth_from_spec(spec: WorldSpec | dict, dataset: Dataset | None = None) -> LatentTruth:
    """The world's truth from its spec alone (no interactions drawn), in ``dataset``'s row order if given."""
    spec = _as_spec(spec)
    pop = _population(spec)
    if dataset is None:
        return pop.truth
    u = dataset.users[S.USER_ID].to_numpy(dtype=np.int64) - 1
    i = dataset.content[S.CONTENT_ID].to_numpy(dtype=np.int64) - 101
    problems = []
    if ((u < 0) | (u >= spec.n_users)).any() or ((i < 0) | (i >= spec.n_items)).any():
        problems.append(f"ids outside the world's ranges: users 1..{spec.n_users}, "
                        f"content 101..{100 + spec.n_items}")
    else:
        topics = np.asarray(TOPICS)[pop.truth.item_topic[i]]
        pubs = np.asarray(pop.publishers)[pop.truth.item_publisher[i]]
        if (dataset.content[S.TOPIC].astype(str).to_numpy() != topics).any() or (
                dataset.content[S.PUBLISHER].astype(str).to_numpy() != pubs).any():
            problems.append("content topics/publishers differ from what the world spec generates")
        if (dataset.users[S.REGION].astype(str).to_numpy() != np.asarray(S.REGIONS)[pop.region[u]]).any():
            problems.append("user regions differ from what the world spec generates")
    if problems:
        raise DataError([f"{S.WORLD_FILE} does not describe these tables: {p}" for p in problems])
    return pop.truth.subset(u, i)


def write_world(world: World, out_dir: str | Path, include_truth: bool | None = None) -> None:
    """Write the three CSVs, world.json and (by default only when users × items ≤ 2,000,000) truth.csv."""
    from ranking.data import write_tables

    if include_truth is None:
        include_truth = world.truth.n_users * world.truth.n_items <= 2_000_000
    write_tables(out_dir, world.users, world.content, world.interactions,
                 truth=world.truth_table() if include_truth else None, spec=world.spec.to_dict())
