"""The logging policy of a generated world: visits, slates, positions and propensities.

Where it sits: ``ranking.data.synth`` asks it which items each logged impression showed, in
which slot, and with what probability; outcomes are then drawn from ``ranking.data.latent``.

A *visit* is a user (drawn in proportion to ``avg_session_length``) at a time uniform over the
logged period. Its *pool* is every item the user may see (region ``ALL`` or the user's region)
published at least a minute and at most ``POLICY_MAX_AGE_DAYS`` before the visit, minus items
already shown to that user on an earlier visit. A pool smaller than a slate gives a shorter
slate. The policy draws 3 % more visits than ``n_interactions / slate_size`` and cuts the surplus
from users' *last* visits (so no logged slate's pool depended on a dropped row); if pools ran
so short that the log is still too small, it starts over once with more visits (at most
``1 / _MIN_PER_VISIT`` visits per wanted row).

A *saturated* world logs with repeated impressions: one asking for more than half of the (user, item)
pairs a user may see (``_SATURATION``: the pools of the last visits would be scraps), one whose most
active user would visit more than ``_MAX_ROUNDS`` times (a slate step per visit), or one whose two tries
above fell short. A pool is then every item in the window, independent of earlier visits, so visits
are drawn i.i.d. in chunks of at most ``_CHUNK_VISITS`` and drawing stops once the log is full; the
rows past ``n_interactions`` are the last drawn visit's bottom slots and any later visits. The work is
bounded: at most ``_MAX_VISITS_PER_ROW`` visits per wanted row (a world whose visits cannot fill that
is refused with a ``ConfigError``), and ``progress`` hears of every round or chunk (it may raise to
stop). Each pool item has weight

    w(u, i, t) = topic_mix[u, topic_i] · exp(buzz_i + 2·(q_i − 0.5)) · exp(−age / POLICY_AGE_DAYS)

with ``topic_mix`` = personalisation · (stated affinities, normalised) + (1 − personalisation)/5.
The slate fills slots 1, 2, … by drawing without replacement in proportion to w (Plackett–Luce).
The logged **propensity** of the item in slot p is the probability that
the policy put it in slot p given the user, the visit and the items in slots 1..p−1::

    propensity = w_i / (Σ_{j in pool} w_j − Σ_{earlier slots} w_j)

Slot p is logged ``SLOT_SECONDS``·(p − 1) seconds after the visit starts.

How it is computed, without a visits × items matrix: the weight factorises as
topic_mix[u, k] · v_i · exp(−t / τ) with v_i = exp(log popularity_i + published_i / τ), so within
one (region, topic) group, items sorted by publication have fixed relative weights and a
visit's window is a contiguous range: prefix sums give each topic's pool weight at once. A slot
draws a topic in proportion to topic_mix · (window weight − weight of excluded items), then an
item of that topic in proportion to v by inverse CDF, redrawing excluded items (rejection keeps
the draw exact); the propensity is topic_mix · v_i over the same total.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ranking.errors import ConfigError

POLICY_MAX_AGE_DAYS, POLICY_AGE_DAYS = 14.0, 1.5
SLOT_SECONDS = 5
_TRIES = 2  # tries at a log without repeated impressions before it repeats them
_SATURATION = 0.5  # a log of more than this share of the visible (user, item) pairs repeats impressions
_MAX_ROUNDS = 1000  # … as does one whose most active user would visit more often (one slate step per visit)
_MIN_PER_VISIT = 0.5  # a retry plans at most 1 / this visits per wanted row (round count ~ visits per user)
_CHUNK_VISITS = 50_000  # visits per slate draw of a saturated world (bounds its memory)
_MAX_VISITS_PER_ROW = 50  # a saturated world drawing more visits than this per wanted row is refused
_REDRAWS = 8  # rejection rounds per slot; rows still drawing excluded items then draw from the explicit rest
_FIELDS = ("user", "item", "position", "propensity", "event_s")


class _Groups:
    """Items per (region, topic) group, sorted by publication, with each group's own prefix sums of v.

    Group g's items are ``items[start[g]:start[g + 1]]``; its prefix sums ``cum[start[g] + g + j]`` for
    j = 0..size (a leading 0 per group, so sums never carry other groups' totals: v spans e^±25).
    """

    def __init__(self, pop, log_pop: np.ndarray):
        truth, n_topics = pop.truth, int(pop.stated.shape[1])
        self.n_topics = n_topics
        tau = POLICY_AGE_DAYS * 86400
        ref = pop.published_s.max() if len(pop.published_s) else 0
        self.v = np.exp(log_pop + (pop.published_s - ref) / tau)
        self.topic = truth.item_topic
        items, cums = [], []
        for r in range(max(6, int(pop.region.max()) + 1)):
            for k in range(n_topics):
                sel = np.flatnonzero((truth.item_topic == k) & ((pop.restriction < 0) | (pop.restriction == r)))
                sel = sel[np.argsort(pop.published_s[sel], kind="stable")]
                items.append(sel)
                cums.append(np.concatenate([[0.0], np.cumsum(self.v[sel])]))
        self.items = np.concatenate(items).astype(np.int64)
        self.start = np.concatenate([[0], np.cumsum([len(x) for x in items])]).astype(np.int64)
        self.pub = pop.published_s[self.items]
        self.cum = np.concatenate(cums)

    def window(self, region: np.ndarray, t: np.ndarray, max_age: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Group and local [lo, hi) per visit and topic: items published in [t − max_age, t − 60 s]."""
        group = region[:, None].astype(np.int64) * self.n_topics + np.arange(self.n_topics)[None, :]
        lo, hi = np.empty(group.shape, np.int64), np.empty(group.shape, np.int64)
        for g in np.flatnonzero(np.bincount(group.ravel(), minlength=len(self.start))):
            a, b = self.start[g], self.start[g + 1]
            rows, k = np.nonzero(group == g)
            lo[rows, k] = np.searchsorted(self.pub[a:b], t[rows] - max_age, side="left")
            hi[rows, k] = np.searchsorted(self.pub[a:b], t[rows] - 60, side="right")
        return group, lo, hi

    def weight(self, group: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Prefix sum of v up to local position j of each group."""
        return self.cum[self.start[group] + group + j]

    def draw(self, group: np.ndarray, lo: np.ndarray, hi: np.ndarray, u01: np.ndarray) -> np.ndarray:
        """Item drawn in proportion to v among local positions [lo, hi) of each group (inverse CDF)."""
        base = self.weight(group, lo)
        target = base + u01 * (self.weight(group, hi) - base)
        j = np.empty(len(group), np.int64)
        order = np.argsort(group, kind="stable")
        bounds = np.searchsorted(group[order], np.arange(len(self.start)))
        for g in np.flatnonzero(np.diff(bounds)):
            at = order[bounds[g]:bounds[g + 1]]
            c = self.cum[self.start[g] + g:self.start[g + 1] + g + 1]
            j[at] = np.searchsorted(c, target[at], side="right") - 1
        j = np.clip(j, lo, hi - 1)
        return self.items[self.start[group] + j]


def _pool_weights(pop, truth, spec) -> tuple[np.ndarray, np.ndarray]:
    """log topic_mix (n_users, n_topics) and log popularity (n_items,)."""
    stated = pop.stated + 1e-3  # a user stating 0 everywhere still has a topic mix
    mix = spec.personalisation
    topic_mix = mix * stated / stated.sum(1, keepdims=True) + (1 - mix) / stated.shape[1]
    return np.log(topic_mix), pop.buzz + 2.0 * (truth.item_quality - 0.5)


def impressions(spec, pop, rng: np.random.Generator,
                progress: Callable[[float, str], None] | None = None) -> dict[str, np.ndarray]:
    """Exactly ``spec.n_interactions`` impressions: user, item, position, propensity, event_s.

    ``progress(fraction, message)`` is called after every round of slates (it may raise to stop).
    """
    n, slate = spec.n_interactions, spec.slate_size
    log_mix, log_pop = _pool_weights(pop, pop.truth, spec)
    mix = np.exp(log_mix)
    groups = _Groups(pop, log_pop)
    reached = [0.0]

    def report(fraction: float, message: str) -> None:  # never backwards, even when a try starts over
        reached[0] = max(reached[0], fraction)
        if progress is not None:
            progress(reached[0], message)

    busiest = n / slate * 1.03 * float(pop.session.max() / pop.session.sum())  # visits of the most active user
    if n <= _SATURATION * eligible_pairs(pop) and busiest <= _MAX_ROUNDS:
        per_visit = float(slate)
        for _ in range(_TRIES):  # one try unless pools run short (tiny or nearly saturated worlds)
            out, users, visits = _unrepeated(spec, pop, groups, mix, per_visit, rng, report)
            if len(out["user"]) >= n:
                keep = _trim(out, users, len(out["user"]) - n, rng)
                del out["visit"]
                return {k: v[keep] for k, v in out.items()}
            per_visit = max(0.8 * len(out["user"]) / visits, _MIN_PER_VISIT)  # plan the retry from this yield
    return _repeated(spec, pop, groups, mix, rng, report)


def eligible_pairs(pop) -> int:
    """(user, item) pairs a user may see by region: the most impressions a log without repeats can hold."""
    n_regions = max(6, int(pop.region.max()) + 1)
    restricted = np.bincount(pop.restriction[pop.restriction >= 0], minlength=n_regions)
    unrestricted = int((pop.restriction < 0).sum())
    return int(np.bincount(pop.region, minlength=n_regions) @ (restricted + unrestricted))


def _unrepeated(spec, pop, groups: _Groups, mix, per_visit: float, rng, report) -> tuple[dict, np.ndarray, int]:
    """One try at the log without repeated impressions: slates round by round (a user's visits in time order)."""
    n, slate, end = spec.n_interactions, spec.slate_size, spec.days * 86400
    activity = pop.session / pop.session.sum()
    visits = int(np.ceil(n / per_visit * 1.03)) + 2
    users = rng.choice(spec.n_users, visits, p=activity)
    times = rng.integers(0, end - SLOT_SECONDS * slate, visits)
    order = np.lexsort((times, users))  # each user's visits in time order, one round per visit
    users, times = users[order], times[order]
    first = np.concatenate([[True], users[1:] != users[:-1]])
    rounds = np.arange(visits) - np.maximum.accumulate(np.where(first, np.arange(visits), 0))
    seen = np.zeros(0, np.int64)  # sorted user · n_items + item of every impression so far
    parts = []
    n_rounds = int(rounds.max()) + 1
    for r in range(n_rounds):
        at = np.flatnonzero(rounds == r)
        part = _slates(users[at], times[at], at, slate, pop, groups, mix, seen, rng, repeats=False)
        parts.append(part)
        # stable sort = timsort: merging the sorted log with one round costs O(size), not O(size · log size)
        seen = np.sort(np.concatenate([seen, part["user"] * pop.truth.n_items + part["item"]]), kind="stable")
        report(min(len(seen) / n, 1.0), f"logging impressions: round {r + 1} of {n_rounds}")
    return {k: np.concatenate([p[k] for p in parts]) for k in (*_FIELDS, "visit")}, users, visits


def _repeated(spec, pop, groups: _Groups, mix, rng, report) -> dict[str, np.ndarray]:
    """A saturated world's log: i.i.d. visits in chunks until ``n`` rows (see the module docstring)."""
    n, slate, end = spec.n_interactions, spec.slate_size, spec.days * 86400
    activity = pop.session / pop.session.sum()
    parts, rows, drawn, per_visit = [], 0, 0, float(slate)
    budget = int(_MAX_VISITS_PER_ROW * n)
    while rows < n:
        if drawn >= budget:
            raise ConfigError(
                f"this world cannot log {n:,} interactions: {drawn:,} visits showed only {rows:,} items "
                f"(each visit shows only items published in the {POLICY_MAX_AGE_DAYS:g} days before it, of "
                f"{spec.n_items:,} items); ask for fewer interactions or more items")
        size = min(int(np.ceil((n - rows) / per_visit * 1.03)) + 2, _CHUNK_VISITS, budget - drawn)
        users = rng.choice(spec.n_users, size, p=activity)
        times = rng.integers(0, end - SLOT_SECONDS * slate, size)
        part = _slates(users, times, drawn + np.arange(size), slate, pop, groups, mix, None, rng, repeats=True)
        parts.append(part)
        drawn, rows = drawn + size, rows + len(part["user"])
        per_visit = max(rows / drawn, 1.0 / _MAX_VISITS_PER_ROW)
        report(min(rows / n, 1.0), f"logging impressions (repeats allowed): {min(rows, n):,} of {n:,}")
    out = {k: np.concatenate([p[k] for p in parts]) for k in _FIELDS}
    # rows come in (visit drawn, slot) order: the first n keep whole visits and the last one's top slots
    return {k: v[:n] for k, v in out.items()}


def _trim(out: dict[str, np.ndarray], users: np.ndarray, surplus: int, rng: np.random.Generator) -> np.ndarray:
    """Rows to keep after cutting ``surplus`` rows from users' *last* logged visits (random ones; the final
    one from its bottom slots), so no logged slate's pool depended on a dropped impression.

    ``users``: each visit's user, visits sorted by (user, time) as ``out["visit"]`` numbers them.
    """
    keep = np.ones(len(out["user"]), dtype=bool)
    visit = out["visit"]
    while surplus > 0:
        sizes = np.bincount(visit[keep], minlength=len(users))
        logged = np.flatnonzero(sizes > 0)
        last = logged[np.r_[users[logged[1:]] != users[logged[:-1]], True]]  # each user's latest logged visit
        cand = rng.permutation(last)
        whole = cand[np.cumsum(sizes[cand]) <= surplus]
        keep &= ~np.isin(visit, whole)
        surplus -= int(sizes[whole].sum())
        if surplus and len(whole) < len(cand):
            rows = np.flatnonzero(keep & (visit == cand[len(whole)]))
            keep[rows[np.argsort(-out["position"][rows], kind="stable")][:surplus]] = False
            surplus = 0
    return np.flatnonzero(keep)


def _excluded(cand: np.ndarray, r: np.ndarray, chosen: np.ndarray, key0: np.ndarray,
              seen: np.ndarray | None) -> np.ndarray:
    """True where a candidate is already in its slate, or (``seen`` given) was shown to the user before."""
    bad = (chosen[r] == cand[:, None]).any(1)
    if seen is not None and len(seen):
        key = key0[r] + cand
        at = np.minimum(np.searchsorted(seen, key), len(seen) - 1)
        bad |= seen[at] == key
    return bad


def _slates(u, t, visit, slate, pop, groups: _Groups, mix, seen, rng, *, repeats: bool) -> dict[str, np.ndarray]:
    """Slates for visits of distinct users (one round); see the module docstring."""
    n_items, n_topics = pop.truth.n_items, groups.n_topics
    m = len(u)
    group, lo, hi = groups.window(pop.region[u], t, int(POLICY_MAX_AGE_DAYS * 86400))
    weight = groups.weight(group, hi) - groups.weight(group, lo)  # (m, topics) window weight
    count = (hi - lo).astype(np.float64)
    key0 = u.astype(np.int64) * n_items
    if not repeats and len(seen):  # remove what each user was shown before (only items in the window count)
        a, b = np.searchsorted(seen, key0), np.searchsorted(seen, key0 + n_items)
        rows = np.repeat(np.arange(m), b - a)
        idx = np.arange(int((b - a).sum())) + np.repeat(a - np.cumsum(np.r_[0, (b - a)[:-1]]), b - a)
        item = seen[idx] - key0[rows]
        age = t[rows] - pop.published_s[item]
        inside = (age >= 60) & (age <= POLICY_MAX_AGE_DAYS * 86400)
        rows, item = rows[inside], item[inside]
        np.add.at(weight, (rows, groups.topic[item]), -groups.v[item])
        np.add.at(count, (rows, groups.topic[item]), -1.0)
    mix_u = mix[u]
    chosen = np.full((m, slate), -1, np.int64)
    prop = np.zeros((m, slate))
    open_ = np.ones(m, bool)
    for s in range(slate):
        eff = np.where(count > 0.5, mix_u * np.maximum(weight, 0.0), 0.0)
        total = eff.sum(1)
        open_ &= total > 0
        rows = np.flatnonzero(open_)
        if not len(rows):
            break
        cum = np.cumsum(eff[rows], axis=1)
        k = np.minimum((rng.random(len(rows))[:, None] * total[rows, None] >= cum).sum(1), n_topics - 1)
        item = np.full(len(rows), -1, np.int64)
        todo = np.arange(len(rows))
        for _ in range(_REDRAWS):
            r, kk = rows[todo], k[todo]
            cand = groups.draw(group[r, kk], lo[r, kk], hi[r, kk], rng.random(len(todo)))
            bad = _excluded(cand, r, chosen[:, :s], key0, seen if not repeats else None)
            item[todo[~bad]] = cand[~bad]
            todo = todo[bad]
            if not len(todo):
                break
        for j in todo:  # mostly excluded pools: draw from the explicit remainder (same distribution)
            r, kk = rows[j], k[j]
            g = group[r, kk]
            cand = groups.items[groups.start[g] + lo[r, kk]:groups.start[g] + hi[r, kk]]
            w = groups.v[cand] * ~_excluded(cand, np.full(len(cand), r), chosen[:, :s], key0,
                                            seen if not repeats else None)
            if w.sum() > 0:
                item[j] = cand[min(np.searchsorted(np.cumsum(w), rng.random() * w.sum(), side="right"),
                                   len(cand) - 1)]
        ok = item >= 0
        open_[rows[~ok]] = False  # a pool that rejection could not draw from: close the slate
        rows, item, k = rows[ok], item[ok], k[ok]
        chosen[rows, s] = item
        prop[rows, s] = np.minimum(mix_u[rows, k] * groups.v[item] / total[rows], 1.0)
        weight[rows, k] -= groups.v[item]
        count[rows, k] -= 1.0
    r, slot = np.nonzero(chosen >= 0)
    return {"user": u[r].astype(np.int64), "item": chosen[r, slot], "position": (slot + 1).astype(np.int64),
            "propensity": prop[r, slot], "event_s": (t[r] + SLOT_SECONDS * slot).astype(np.int64),
            "visit": visit[r].astype(np.int64)}
