"""A generated world's latent parameters and the expected value of every signal they imply.

Where it sits: ``ranking.data.world`` draws these parameters from a ``WorldSpec``;
``ranking.data.synth`` samples logged outcomes from ``pair_params`` at each impression's age
and position; evaluation reads ``signals`` / ``gain`` / ``rows`` at serving time ("now").

Interest of user u in item i (static, standard-normal scale)::

    U(u, i) = −0.7 + b_u + 1.0·θ[u, topic_i] + 0.6·π[u, pub_i] + 2.5·(q_i − 0.5)
              + 0.8·⟨x_u, y_i⟩ − 6·[pub_i ∈ blocklist_u]

Each item also has hidden traits in [0, 1]: clickbait c, depth d, controversy v; each user a
share propensity s_u and a comment propensity k_u. For an item ``a`` days old, *given that the
user examines the impression* (σ = logistic)::

    P(click)           = σ(U + 2.0·(c − 0.25) − 0.3·a)
    dwell | click      ~ lognormal, log-median ln 30 + 2.0·(d − 0.5) − 1.5·(c − 0.25)
                         + 0.5·(σ(U) − 0.5) − 0.03·a, log-sd 0.6  (E = median·e^{0.18})
    P(share)           = σ(−2.5 + s_u + 0.5·U + 3.5·(v − 0.25) + 1.0·(d − 0.5) − 1.0·(c − 0.25) − 1.0·a)
    P(comment ≥ 1 | click) = σ(−2.0 + k_u + 0.5·U + 3.0·(v − 0.25) − 0.4·a); a second comment w.p. 0.3
    P(hide | no click) = σ(−3.2 − 0.5·U + 2.0·(c − 0.25) + 2.0·(v − 0.25) + 0.1·a)

so E[dwell] = P(click)·E[dwell | click], E[comment] = 1.3·P(click)·P(comment ≥ 1 | click) and
P(hide) = (1 − P(click))·P(hide | no click); shares need no click (people share headlines).
Decay per day of age: clicks −0.3 logit, dwell −3 % of the median, shares −1.0 logit (news is
shared while it is new), comments −0.4 logit, hides +0.1 logit (stale news annoys).

Position: slot p of a slate is examined with probability 1 / log2(p + 1) (the DCG discount);
an unexamined impression has no signal at all, so every expectation at slot p is that factor
times the expectation above. The truth at serving is the examined (top-slot) expectation at
each item's real age at "now".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ranking.data import schema as S
from ranking.data.truth import SECOND_COMMENT, SignalsMixin

B0, B_TOPIC, B_PUB, B_QUALITY, B_CF, B_BLOCK, USER_BIAS_SD = -0.7, 1.0, 0.6, 2.5, 0.8, 6.0, 0.4
C_MID, D_MID, V_MID = 0.25, 0.5, 0.25  # trait centres in the formulas
CLICK_BAIT, CLICK_DECAY = 2.0, 0.3
DWELL_MEDIAN, DWELL_SIGMA, DWELL_DEPTH, DWELL_BAIT, DWELL_INTEREST, DWELL_DECAY = 30.0, 0.6, 2.0, -1.5, 0.5, 0.03
SHARE_B0, SHARE_INTEREST, SHARE_CONTRO, SHARE_DEPTH, SHARE_BAIT, SHARE_DECAY = -2.5, 0.5, 3.5, 1.0, -1.0, 1.0
COMMENT_B0, COMMENT_INTEREST, COMMENT_CONTRO, COMMENT_DECAY = -2.0, 0.5, 3.0, 0.4
HIDE_B0, HIDE_INTEREST, HIDE_BAIT, HIDE_CONTRO, HIDE_DECAY = -3.2, -0.5, 2.0, 2.0, -0.1
SHARE_PROP_SD, COMMENT_PROP_SD = 0.8, 0.8
_CHUNK_CELLS = 2**17  # users × items per step of ``signals``: temporaries stay in cache


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def examination(position: np.ndarray | int | None) -> np.ndarray | float:
    """P(the user examines slot ``position``) = 1 / log2(position + 1); 1.0 when no position is given."""
    if position is None:
        return 1.0
    return 1.0 / np.log2(np.asarray(position, dtype=np.float64) + 1.0)


@dataclass(frozen=True, eq=False)
class LatentTruth(SignalsMixin):
    """The world's latent parameters; ``signals`` / ``gain`` / ``rows`` computed on demand (a ``Truth``)."""

    taste: np.ndarray  # θ (n_users, 5), topics in world.TOPICS order
    bias: np.ndarray  # b (n_users,)
    pub_pref: np.ndarray  # π (n_users, n_publishers) float32
    blocked: np.ndarray  # bool (n_users, n_publishers)
    user_factors: np.ndarray  # x (n_users, k)
    share_prop: np.ndarray  # s (n_users,)
    comment_prop: np.ndarray  # k (n_users,)
    item_topic: np.ndarray  # int code into world.TOPICS (n_items,)
    item_publisher: np.ndarray  # int code into publisher names (n_items,)
    item_quality: np.ndarray  # q as published in quality_score (n_items,)
    item_factors: np.ndarray  # y (n_items, k)
    clickbait: np.ndarray  # c (n_items,)
    depth: np.ndarray  # d (n_items,)
    controversy: np.ndarray  # v (n_items,)
    age_now: np.ndarray  # each item's age in days at serving time "now" (n_items,)

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
        """float64 (len(user_pos), n_items) interest U."""
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

    def pair_utility(self, user_pos: np.ndarray, item_pos: np.ndarray) -> np.ndarray:
        """Interest U of given (user, item) pairs (float64, same formula as ``utility``)."""
        u, i = np.asarray(user_pos), np.asarray(item_pos)
        pub = self.item_publisher[i]
        return (B0 + self.bias[u] + B_TOPIC * self.taste[u, self.item_topic[i]]
                + B_PUB * self.pub_pref[u, pub] + B_QUALITY * (self.item_quality[i] - 0.5)
                + B_CF * np.einsum("ij,ij->i", self.user_factors[u], self.item_factors[i])
                - B_BLOCK * self.blocked[u, pub])

    def _params(self, interest: np.ndarray, u: np.ndarray, i: np.ndarray | slice,
                age: np.ndarray) -> dict[str, np.ndarray]:
        """The model's per-impression parameters (module docstring); arrays broadcast like ``interest``."""
        c, d, v = self.clickbait[i] - C_MID, self.depth[i] - D_MID, self.controversy[i] - V_MID
        return {
            "p_click": _sigmoid(interest + (CLICK_BAIT * c - CLICK_DECAY * age)),
            "dwell_mu": (np.log(DWELL_MEDIAN) + DWELL_DEPTH * d + DWELL_BAIT * c - DWELL_DECAY * age)
            + DWELL_INTEREST * (_sigmoid(interest) - 0.5),
            "p_share": _sigmoid(SHARE_INTEREST * interest + (SHARE_B0 + self.share_prop[u])
                                + (SHARE_CONTRO * v + SHARE_DEPTH * d + SHARE_BAIT * c - SHARE_DECAY * age)),
            "p_comment": _sigmoid(COMMENT_INTEREST * interest + (COMMENT_B0 + self.comment_prop[u])
                                  + (COMMENT_CONTRO * v - COMMENT_DECAY * age)),
            "p_hide": _sigmoid(HIDE_INTEREST * interest
                               + (HIDE_B0 + HIDE_BAIT * c + HIDE_CONTRO * v - HIDE_DECAY * age)),
        }

    @staticmethod
    def _expect(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Expected signals of an examined impression from its parameters."""
        pc = p["p_click"]
        return {S.P_CLICK: pc, S.E_DWELL: pc * np.exp(p["dwell_mu"] + DWELL_SIGMA**2 / 2),
                S.P_SHARE: p["p_share"], S.E_COMMENT: (1.0 + SECOND_COMMENT) * pc * p["p_comment"],
                S.P_HIDE: (1.0 - pc) * p["p_hide"]}

    def pair_params(self, user_pos: np.ndarray, item_pos: np.ndarray, age_days: np.ndarray) -> dict:
        """Per-impression parameters of (user, item) pairs shown at ``age_days`` (what synth samples from)."""
        u, i = np.asarray(user_pos), np.asarray(item_pos)
        return self._params(self.pair_utility(u, i), u, i, np.asarray(age_days, np.float64))

    def pair_signals(self, user_pos: np.ndarray, item_pos: np.ndarray, age_days: np.ndarray,
                     position: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """float64 expected signals of (user, item) impressions at an age and (optionally) a slate position."""
        out = self._expect(self.pair_params(user_pos, item_pos, age_days))
        exam = examination(position)
        return {k: v * exam for k, v in out.items()}

    def signals(self, user_pos: np.ndarray) -> dict[str, np.ndarray]:
        """float32 (len(user_pos), n_items) per signal: examined impressions at each item's age at "now"."""
        u = np.asarray(user_pos, dtype=np.int64).reshape(-1)
        out = {name: np.empty((len(u), self.n_items), dtype=np.float32) for name in S.SIGNALS}
        chunk = max(1, _CHUNK_CELLS // max(1, self.n_items))
        items = slice(None)
        for lo in range(0, len(u), chunk):
            part = u[lo:lo + chunk]
            p = self._params(self.utility(part), part[:, None], items, self.age_now[None, :])
            for name, value in self._expect(p).items():
                out[name][lo:lo + chunk] = value
        return out

    def subset(self, user_pos: np.ndarray, item_pos: np.ndarray) -> LatentTruth:
        """The truth for these users and items, in this order."""
        u, i = np.asarray(user_pos), np.asarray(item_pos)
        return LatentTruth(self.taste[u], self.bias[u], self.pub_pref[u], self.blocked[u],
                           self.user_factors[u], self.share_prop[u], self.comment_prop[u],
                           self.item_topic[i], self.item_publisher[i], self.item_quality[i],
                           self.item_factors[i], self.clickbait[i], self.depth[i], self.controversy[i],
                           self.age_now[i])
