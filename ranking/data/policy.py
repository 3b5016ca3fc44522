"""The logging policy of a generated world: visits, slates, positions and propensities.

Where it sits: ``ranking.data.synth`` asks it which items each logged impression showed, in
which slot, and with what probability; outcomes are then drawn from ``ranking.data.latent``.

A *visit* is a user (drawn in proportion to ``avg_session_length``) at a time uniform over the
logged period. Its *pool* is every item the user may see (region ``ALL`` or the user's region)
published at least a minute and at most ``POLICY_MAX_AGE_DAYS`` before the visit, minus items
already shown to that user on an earlier visit. A pool smaller than a slate gives a shorter
slate. The policy draws 3 % more visits than ``n_interactions / slate_size`` and cuts the surplus
from users' *last* visits (so no logged slate's pool depended on a dropped row); if pools ran
so short that the log is still too small, it starts over with more visits, and from the third
try (a saturated world) repeated impressions are allowed. Each pool item has weight

    w(u, i, t) = topic_mix[u, topic_i] · exp(buzz_i + 2·(q_i − 0.5)) · exp(−age / POLICY_AGE_DAYS)

with ``topic_mix`` = personalisation · (stated affinities, normalised) + (1 − personalisation)/5.
The slate fills slots 1, 2, … by drawing without replacement in proportion to w (Plackett–Luce,
done with Gumbel keys). The logged **propensity** of the item in slot p is the probability that
the policy put it in slot p given the user, the visit and the items in slots 1..p−1::

    propensity = w_i / (Σ_{j in pool} w_j − Σ_{earlier slots} w_j)

Slot p is logged ``SLOT_SECONDS``·(p − 1) seconds after the visit starts.
"""

from __future__ import annotations

import numpy as np

POLICY_MAX_AGE_DAYS, POLICY_AGE_DAYS = 14.0, 1.5
SLOT_SECONDS = 5
_CELLS = 2**21  # visits × pool items per step
_ATTEMPTS, _REPEATS_FROM = 6, 2  # tries at the log; repeated impressions only from the third


def _pool_weights(pop, truth, spec) -> tuple[np.ndarray, np.ndarray]:
    """log topic_mix (n_users, n_topics) and log popularity (n_items,)."""
    stated = pop.stated + 1e-3  # a user stating 0 everywhere still has a topic mix
    mix = spec.personalisation
    topic_mix = mix * stated / stated.sum(1, keepdims=True) + (1 - mix) / stated.shape[1]
    return np.log(topic_mix), pop.buzz + 2.0 * (truth.item_quality - 0.5)


def impressions(spec, pop, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Exactly ``spec.n_interactions`` impressions: user, item, position, propensity, event_s (time order)."""
    n, slate, end = spec.n_interactions, spec.slate_size, spec.days * 86400
    truth = pop.truth
    log_mix, log_pop = _pool_weights(pop, truth, spec)
    activity = pop.session / pop.session.sum()
    by_pub = np.argsort(pop.published_s, kind="stable")
    pub_sorted = pop.published_s[by_pub]
    per_visit = float(slate)
    for attempt in range(_ATTEMPTS):  # one attempt unless pools run short (tiny or saturated worlds)
        visits = int(np.ceil(n / per_visit * 1.03)) + 2
        users = rng.choice(spec.n_users, visits, p=activity)
        times = rng.integers(0, end - SLOT_SECONDS * slate, visits)
        order = np.lexsort((times, users))  # each user's visits in time order, one round per visit
        users, times = users[order], times[order]
        first = np.concatenate([[True], users[1:] != users[:-1]])
        rounds = np.arange(visits) - np.maximum.accumulate(np.where(first, np.arange(visits), 0))
        last = np.concatenate([users[1:] != users[:-1], [True]])  # a user's last visit
        shown: list[list[np.ndarray]] = [[] for _ in range(spec.n_users)]
        parts = []
        for r in range(int(rounds.max()) + 1):
            at = np.flatnonzero(rounds == r)
            at = at[np.argsort(times[at], kind="stable")]
            parts.extend(_round(users[at], times[at], at, slate, pop, truth, log_mix, log_pop, by_pub, pub_sorted,
                                shown, rng, attempt >= _REPEATS_FROM))
        out = {k: np.concatenate([p[k] for p in parts]) for k in (*_FIELDS, "visit")}
        if len(out["user"]) >= n:
            break
        per_visit = max(0.8 * len(out["user"]) / visits, 0.05)  # plan the next try from this one's yield
    keep = _trim(out, users, last, len(out["user"]) - n, rng)
    del out["visit"]
    return {k: v[keep] for k, v in out.items()}


def _trim(out: dict[str, np.ndarray], users: np.ndarray, last: np.ndarray, surplus: int,
          rng: np.random.Generator) -> np.ndarray:
    """Rows to keep after cutting ``surplus`` rows from users' *last* visits (random ones; the final one
    from its bottom slots), so no logged slate's pool depended on a dropped impression."""
    keep = np.ones(len(out["user"]), dtype=bool)
    visit = out["visit"]
    while surplus > 0:
        sizes = np.bincount(visit[keep], minlength=len(last))
        cand = rng.permutation(np.flatnonzero(last & (sizes > 0)))
        cum = np.cumsum(sizes[cand])
        whole = cand[cum <= surplus]
        keep &= ~np.isin(visit, whole)
        surplus -= int(sizes[whole].sum())
        if surplus and len(whole) < len(cand):
            part = cand[len(whole)]
            rows = np.flatnonzero(keep & (visit == part))
            rows = rows[np.argsort(-out["position"][rows], kind="stable")][:surplus]
            keep[rows] = False
            surplus = 0
        # a user whose last visit went whole now ends with the visit before it (visits sorted by user, time)
        last = last.copy()
        last[whole] = False
        prev = whole[whole > 0] - 1
        last[prev[users[prev] == users[prev + 1]]] = True
    return np.flatnonzero(keep)


def _round(users, times, visit, slate, pop, truth, log_mix, log_pop, by_pub, pub_sorted, shown, rng, repeats):
    """Slates for visits of distinct users (one round), in chunks of visits close in time."""
    max_age = int(POLICY_MAX_AGE_DAYS * 86400)
    restriction, region = pop.restriction, pop.region
    i0 = 0
    while i0 < len(users):
        lo = int(np.searchsorted(pub_sorted, times[i0] - max_age, side="left"))
        width_guess = max(1, int(np.searchsorted(pub_sorted, times[i0], side="right")) - lo + 64)
        i1 = min(len(users), i0 + max(1, _CELLS // width_guess))
        u, t, key = users[i0:i1], times[i0:i1], visit[i0:i1]
        hi = int(np.searchsorted(pub_sorted, t.max() - 60, side="right"))
        items = by_pub[lo:hi]
        yield _slates(u, t, key, items, slate, pop, truth, log_mix, log_pop, restriction, region, shown, rng, max_age,
                      repeats)
        i0 = i1


def _slates(u, t, key, items, slate, pop, truth, log_mix, log_pop, restriction, region, shown, rng, max_age, repeats):
    age_s = t[:, None] - pop.published_s[items][None, :]
    ok = (age_s >= 60) & (age_s <= max_age)
    ok &= (restriction[items][None, :] < 0) | (restriction[items][None, :] == region[u][:, None])
    fresh = ok.copy()
    col_of = np.full(truth.n_items, -1, np.int64)
    col_of[items] = np.arange(len(items))
    earlier = [(row, np.concatenate(shown[user])) for row, user in enumerate(u.tolist()) if shown[user]]
    if earlier:  # items this user was shown on an earlier visit are out of the pool
        r = np.concatenate([np.full(len(x), row) for row, x in earlier])
        c = col_of[np.concatenate([x for _, x in earlier])]
        fresh[r[c >= 0], c[c >= 0]] = False
    if repeats:  # saturated: repeats allowed where the pool ran short
        short = fresh.sum(1) < np.minimum(slate, ok.sum(1))
        fresh[short] = ok[short]
    logw = log_mix[u][:, truth.item_topic[items]] + log_pop[items][None, :] - age_s / (POLICY_AGE_DAYS * 86400)
    logw[~fresh] = -np.inf
    k = min(slate, len(items))
    if k == 0:
        return _empty()
    keys = logw + rng.gumbel(size=logw.shape)
    top = np.argpartition(-keys, k - 1, axis=1)[:, :k] if k < len(items) else np.tile(np.arange(k), (len(u), 1))
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(keys, top, 1), axis=1, kind="stable"), 1)
    w = np.exp(logw)
    pool = w.sum(1, dtype=np.float64)
    wk = np.take_along_axis(w, top, 1)
    valid = np.isfinite(np.take_along_axis(logw, top, 1))
    before = np.cumsum(wk, axis=1) - wk
    prop = np.clip(wk / np.maximum(pool[:, None] - before, 1e-300), 0.0, 1.0)
    rows, slot = np.nonzero(valid)
    chosen = items[top[rows, slot]]
    for row, picked in zip(u.tolist(), np.split(chosen, np.cumsum(np.bincount(rows, minlength=len(u)))[:-1]),
                           strict=True):
        if len(picked):
            shown[row].append(picked)
    return {"user": u[rows].astype(np.int64), "item": chosen.astype(np.int64),
            "position": (slot + 1).astype(np.int64), "propensity": prop[rows, slot],
            "event_s": (t[rows] + SLOT_SECONDS * slot).astype(np.int64), "visit": key[rows]}


_FIELDS = ("user", "item", "position", "propensity", "event_s")


def _empty() -> dict[str, np.ndarray]:
    return {k: np.zeros(0, np.float64 if k == "propensity" else np.int64) for k in (*_FIELDS, "visit")}

