"""The hidden side of a generated world: its spec and the population (users, items, latent truth).

Where it sits: under ``ranking.data.synth`` (which logs impressions from this population) and
``ranking.data.io`` (which recomputes the truth of a saved world from its ``world.json``). The
signal model is in ``ranking.data.latent``; the story in ``ranking.data.synth`` and ``data/README.md``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ranking.data import schema as S
from ranking.data.dataset import Dataset
from ranking.data.latent import COMMENT_PROP_SD, SHARE_PROP_SD, USER_BIAS_SD, LatentTruth, _sigmoid
from ranking.errors import ConfigError, DataError

GENERATOR_VERSION = 2  # 2: per-signal causes, ageing news, slates with positions and propensities, titles
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
MAIN_TOPIC_SHARE = 0.6  # share of a publisher's items on its main topic
PREHISTORY_DAYS = 7  # items are published from this many days before the log starts …
FRESH_SHARE, FRESH_HOURS = 0.1, 24  # … until "now", plus this share in the last hours before "now"
TRAIT_NOISE = 0.15  # sd of an item's trait around its publisher's tendency
# per topic: (clickbait, depth, controversy) offsets added to the publisher tendency
TOPIC_TRAITS = ((0.0, 0.05, 0.2), (0.0, 0.1, -0.05), (0.1, -0.1, 0.0), (-0.05, 0.1, -0.05), (0.2, -0.15, 0.05))
_TRUTH_TABLE_LIMIT = 20_000_000
_MIND_USER, _MIND_NEWS, _SUBCATEGORY = "mind_user_id", "mind_news_id", "subcategory"  # ranking.data.mind's columns


@dataclass(frozen=True)
class WorldSpec:
    """Everything that determines a generated world; the same spec always gives the same world.

    ``n_publishers`` None → max(10, n_items // 30), at most n_items; ``n_factors``: rank of the latent
    collaborative-filtering factor; ``affinity_noise``: sd of the noise on stated affinities;
    ``restricted_share``: items restricted to one region (NA/EU/AS); ``blocklist_share``: users
    blocking 1–3 (mostly disliked) publishers; ``personalisation``: weight of stated affinity
    in the logging policy's topic choice; ``start``/``days``: the logged period (UTC), which ends at
    serving time ``now`` = start + days (written to world.json, never read back as a setting);
    ``slate_size``: items the logging policy shows per visit.
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
    slate_size: int = 10

    def __post_init__(self) -> None:
        problems = [f"{k} must be an integer ≥ {lo}, got {getattr(self, k)!r}"
                    for k, lo in (("n_users", 1), ("n_items", 1), ("n_interactions", 1), ("seed", 0),
                                  ("n_factors", 1), ("days", 1), ("slate_size", 1))
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

    @property
    def start_ts(self) -> pd.Timestamp:
        start = pd.Timestamp(self.start)
        return start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")

    @property
    def now(self) -> pd.Timestamp:
        """Serving time: the end of the logged period (UTC)."""
        return self.start_ts + pd.Timedelta(days=self.days)

    def to_dict(self) -> dict:
        """JSON-able fields plus ``generator_version`` and ``now`` (derived, ISO 8601)."""
        return {**dataclasses.asdict(self), "generator_version": GENERATOR_VERSION,
                "now": self.now.strftime("%Y-%m-%dT%H:%M:%SZ")}

    @classmethod
    def from_dict(cls, raw: dict) -> WorldSpec:
        """Inverse of ``to_dict``; refuses unknown keys and other generator versions."""
        raw = dict(raw)
        version = raw.pop("generator_version", GENERATOR_VERSION)
        if version != GENERATOR_VERSION:
            raise ConfigError(version_message(version, raw))
        now = raw.pop("now", None)
        valid = {f.name for f in dataclasses.fields(cls)}
        if unknown := sorted(set(raw) - valid):
            raise ConfigError(f"unknown world spec keys {unknown}; valid: {', '.join(sorted(valid))}")
        spec = cls(**raw)
        if now is not None and spec.to_dict()["now"] != now:
            raise ConfigError(f"world spec says now = {now!r}, but start + days = {spec.to_dict()['now']}")
        return spec


def version_message(version, raw: dict | None = None) -> str:
    """Why a world from another generator version is refused, and the command that regenerates it."""
    raw = raw or {}
    args = " ".join(f"--{flag} {raw.get(key, '…')}" for flag, key in (
        ("users", "n_users"), ("items", "n_items"), ("interactions", "n_interactions"), ("seed", "seed")))
    return (f"this world was made by generator version {version}, and this lab's generator is version "
            f"{GENERATOR_VERSION}: its truth cannot be recomputed. Regenerate the world "
            f"(python -m ranking synth --out FOLDER {args})")


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
    published_s: np.ndarray  # seconds after spec.start (negative: before the log starts)
    buzz: np.ndarray  # hidden popularity the logging policy favours
    blocklist_pubs: np.ndarray  # (n_users, ≤3) blocked publisher codes, most disliked first; -1 = none


def _streams(spec: WorldSpec) -> list[np.random.Generator]:
    """Independent generators for publishers, items, users, the log and titles (so sizes don't leak)."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(spec.seed).spawn(5)]


def _publisher_names(n: int) -> tuple[tuple[str, ...], np.ndarray]:
    base = len(PUBLISHERS)
    names = tuple(PUBLISHERS[p % base][0] + (str(p // base + 1) if p >= base else "") for p in range(n))
    return names, np.array([PUBLISHERS[p % base][1] for p in range(n)])


def _population(spec: WorldSpec) -> _Population:
    r_pub, r_item, r_user = _streams(spec)[:3]
    n_pub, n, m, k = spec.publishers, spec.n_items, spec.n_users, spec.n_factors
    names, main_topic = _publisher_names(n_pub)
    pub_quality, pub_size = r_pub.beta(6.0, 4.0, n_pub), r_pub.lognormal(0.0, 0.6, n_pub)
    # publisher tendencies: clickbait, depth, controversy
    pub_traits = np.stack([r_pub.beta(1.2, 3.5, n_pub), r_pub.beta(3.0, 3.0, n_pub), r_pub.beta(1.2, 3.5, n_pub)], 1)

    # every publisher gets at least one item, so blocklists always name a publisher that exists
    extra = r_item.choice(n_pub, n - n_pub, p=pub_size / pub_size.sum())
    pub = r_item.permutation(np.concatenate([np.arange(n_pub), extra]))
    topic = np.where(r_item.random(n) < MAIN_TOPIC_SHARE, main_topic[pub], r_item.integers(0, len(TOPICS), n))
    quality = np.clip(pub_quality[pub] + r_item.normal(0.0, 0.12, n), 0.0, 1.0).round(2)
    restricted = r_item.random(n) < spec.restricted_share
    restricted[0] = restricted[0] and not restricted.all()  # some item must be eligible everywhere
    region_codes = np.array([S.REGIONS.index(r) for r in RESTRICTED_TO])
    restriction = np.where(restricted, region_codes[r_item.integers(0, len(RESTRICTED_TO), n)], -1)
    end = spec.days * 86400
    fresh = r_item.random(n) < FRESH_SHARE
    published_s = np.where(fresh, r_item.integers(end - FRESH_HOURS * 3600, end - 60, n),
                           r_item.integers(-PREHISTORY_DAYS * 86400, end - 60, n)) // 60 * 60
    buzz, item_factors = r_item.standard_normal(n), r_item.standard_normal((n, k)) / k**0.25
    traits = np.clip(pub_traits[pub] + np.asarray(TOPIC_TRAITS)[topic]
                     + r_item.normal(0.0, TRAIT_NOISE, (n, 3)), 0.0, 1.0)

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
    share_prop, comment_prop = r_user.normal(0.0, SHARE_PROP_SD, m), r_user.normal(0.0, COMMENT_PROP_SD, m)
    age_now = (end - published_s) / 86400.0
    truth = LatentTruth(taste, bias, pub_pref, blocked, user_factors, share_prop, comment_prop, topic, pub,
                        quality, item_factors, traits[:, 0], traits[:, 1], traits[:, 2], age_now)
    return _Population(truth, names, device, region, stated, session, restriction, published_s, buzz,
                       block_pubs)


def _as_spec(spec: WorldSpec | dict | None) -> WorldSpec:
    if spec is None:
        return WorldSpec()
    return spec if isinstance(spec, WorldSpec) else WorldSpec.from_dict(spec)


def truth_from_spec(spec: WorldSpec | dict, dataset: Dataset | None = None) -> LatentTruth:
    """The world's truth from its spec alone (no interactions drawn), in ``dataset``'s row order if given."""
    spec = _as_spec(spec)
    pop = _population(spec)
    if dataset is None:
        return pop.truth
    users, content = dataset.users, dataset.content
    # a MIND import of `synth --format mind` (ranking.data.mind_world): the world's ids are in the MIND ids,
    # the publisher in the subcategory, and users carry the import's neutral region
    mind = _MIND_USER in users and _MIND_NEWS in content and _SUBCATEGORY in content
    if mind:

        u, i = world_positions(users[_MIND_USER]) - 1, world_positions(content[_MIND_NEWS]) - 101
    else:
        u = users[S.USER_ID].to_numpy(dtype=np.int64) - 1
        i = content[S.CONTENT_ID].to_numpy(dtype=np.int64) - 101
    problems = []
    if ((u < 0) | (u >= spec.n_users)).any() or ((i < 0) | (i >= spec.n_items)).any():
        problems.append(f"ids outside the world's ranges: users 1..{spec.n_users}, "
                        f"content 101..{100 + spec.n_items}" + (" (MIND ids U…, N…)" if mind else ""))
    else:
        topics = np.asarray(TOPICS)[pop.truth.item_topic[i]]
        pubs = np.asarray(pop.publishers)[pop.truth.item_publisher[i]]
        if (content[S.TOPIC].astype(str).to_numpy() != topics).any() or (
                content[_SUBCATEGORY if mind else S.PUBLISHER].astype(str).to_numpy() != pubs).any():
            problems.append("content topics/publishers differ from what the world spec generates")
        if not mind and (users[S.REGION].astype(str).to_numpy() != np.asarray(S.REGIONS)[pop.region[u]]).any():
            problems.append("user regions differ from what the world spec generates")
    if problems:
        raise DataError([f"{S.WORLD_FILE} does not describe these tables: {p}" for p in problems])
    return pop.truth.subset(u, i)


def world_positions(codes: pd.Series) -> np.ndarray:
    """The number inside the MIND ids ``synth --format mind`` writes (``U0042`` → 42); -1 where there is none."""
    num = pd.to_numeric(codes.astype(str).str.slice(1), errors="coerce")
    return num.fillna(-1).to_numpy(np.int64)
