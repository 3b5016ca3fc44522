"""Policies that can be served to a live world: each returns every user's slate at the world's "now".

Where it sits: between what the lab trains (``ranking.pipeline.PipelineResult``) and ``ranking.online``'s
experiments. A policy is any object with ``slates(world) -> int array (n_users, SLATE)`` of world item
positions, -1 padded. Four kinds:

- ``ListPolicy``: a trained run's list (final by default), fixed as it was ranked at the run's "now":
  a model that is not retrained neither re-ranks nor sees items published after its training;
- ``PopularityPolicy``: the eligible items with the most clicks in the whole log so far (re-counted
  every morning, served items' clicks included: the rich get richer);
- ``OraclePolicy``: the eligible items with the highest true expected compound value now (the truth);
- ``RandomPolicy``: eligible items in a random order, seeded per day.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ranking.config import LabelConfig
from ranking.data import schema as S
from ranking.data.dataset import Dataset
from ranking.online.live import SLATE, LiveWorld
from ranking.prep.lists import PAD, RankedLists


def top_eligible(scores: np.ndarray, eligible: np.ndarray, k: int = SLATE) -> np.ndarray:
    """Per row, the ``k`` eligible columns of highest score (ties: lower column first), -1 padded."""
    s = np.where(eligible, scores, -np.inf)
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    ok = np.take_along_axis(eligible, order, 1)
    return np.where(ok, order, PAD)


@dataclass(frozen=True, eq=False)
class ListPolicy:
    """A trained run's ranked lists (positions in ``dataset``), served as ranked until it is retrained."""

    name: str
    lists: RankedLists
    dataset: Dataset
    offline: dict[str, float] = field(default_factory=dict)  # the run's own offline metrics of this list

    @classmethod
    def from_result(cls, result, name: str = "pipeline", which: str = "final") -> ListPolicy:
        """The ``which`` list ("final", "stage3", …) of a ``PipelineResult``, with its offline metrics."""
        ev = result.evaluation
        offline = {f"held-out NDCG@{ev.k} (the run's evaluation)": ev.value(which, "ndcg")}
        if ev.has_oracle:
            offline[f"oracle NDCG@{ev.k} under the run's own label"] = ev.headline(which)
        return cls(name, result.lists()[which], result.prep.dataset, offline)

    def slates(self, world: LiveWorld) -> np.ndarray:
        users = self.dataset.users[S.USER_ID].to_numpy(np.int64) - 1
        items = self.dataset.content[S.CONTENT_ID].to_numpy(np.int64) - 101
        head = self.lists.items[:, :SLATE]
        out = np.full((world.n_users, SLATE), PAD, dtype=np.int64)
        out[users, :head.shape[1]] = np.where(head >= 0, items[np.maximum(head, 0)], PAD)
        return out


@dataclass(frozen=True)
class PopularityPolicy:
    """Most clicked eligible items in the log so far (the world's log and everything served)."""

    name: str = "popularity"

    def slates(self, world: LiveWorld) -> np.ndarray:
        return top_eligible(np.broadcast_to(item_clicks(world), (world.n_users, world.n_items)),
                            world.eligible())


@dataclass(frozen=True)
class OraclePolicy:
    """The truth: eligible items by true expected compound value under ``labels`` at "now"."""

    name: str = "oracle"
    labels: LabelConfig = field(default_factory=LabelConfig)

    def slates(self, world: LiveWorld) -> np.ndarray:
        gain = world.truth_now().gain(np.arange(world.n_users), self.labels)
        return top_eligible(gain, world.eligible())


@dataclass(frozen=True)
class RandomPolicy:
    """Eligible items in a uniformly random order, a new order every day (seeded)."""

    name: str = "random"
    seed: int = 0

    def slates(self, world: LiveWorld) -> np.ndarray:
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, world.seed, world.day, 3]))
        return top_eligible(rng.random((world.n_users, world.n_items)), world.eligible())

    def propensity(self, world: LiveWorld, slates: np.ndarray) -> np.ndarray:
        """P(this item in slot p | slots before it) = 1 / (eligible items − (p − 1)), as the logging policy logs it."""
        left = world.eligible().sum(1)[:, None] - np.arange(slates.shape[1])[None, :]
        return np.where(slates >= 0, 1.0 / np.maximum(left, 1), np.nan)


def propensities(policy, world: LiveWorld, slates: np.ndarray) -> np.ndarray:
    """Each slot's logged propensity: the policy's own (random) or 1 (a deterministic ranking)."""
    fn = getattr(policy, "propensity", None)
    return fn(world, slates) if fn is not None else np.ones(slates.shape)


def item_clicks(world: LiveWorld, before_s: int | None = None) -> np.ndarray:
    """Clicks per item (world positions) in the world's log and the served log, before ``before_s`` if given."""
    inter = world.dataset.interactions
    item = inter[S.CONTENT_ID].to_numpy(np.int64) - 101
    click = inter[S.CLICK].to_numpy() > 0
    if before_s is not None:
        t = (inter[S.EVENT_TS] - world.spec.start_ts).dt.total_seconds().to_numpy()
        click &= t < before_s
    out = np.bincount(item[click], minlength=world.n_items).astype(np.float64)
    for part in world.log:
        c = part[S.CLICK] > 0
        if before_s is not None:
            c &= part["event_s"] < before_s
        out += np.bincount(part["item"][c], minlength=world.n_items)
    return out
