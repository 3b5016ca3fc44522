"""The feedback loop: deploy a ranker, log its own feed, retrain on it, repeat — and watch the feed narrow.

Where it sits: in ``ranking.online``, on ``ranking.online.live`` and ``ranking.pipeline``. Round r serves
the current policy for ``days`` days, appends the served log to everything logged before, and (for the
pipeline) retrains every stage on it (``ranking.pipeline.prepare_data`` / ``train`` / ``finish``) before
round r + 1. Round 0 is the world's own logging policy over the last ``days`` days of its log, the state
before deployment. Each round's measures (Chaney et al. 2018; Mansoury et al. 2020):

- value per impression (compound, and each signal);
- coverage: share of the items live during the round (published before its end, younger than the age
  limit at its start) shown at least once; exposure Gini over those items' impression counts;
- average recommended popularity: the mean, over impressions, of the item's clicks logged before the round;
- homogenisation: mean Jaccard similarity of the item sets shown to ``pairs`` seeded pairs of active users;
- oracle NDCG@10 of the round's first slates against the truth at the round's start;
- per user group: *mainstream* (topic tastes closer than the median to the average user's) and *niche*.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ranking import pipeline
from ranking.config import LabelConfig, PipelineConfig
from ranking.data import schema as S
from ranking.data.dataset import Dataset
from ranking.online.live import DAY_S, OUTCOME_COLUMNS, LiveWorld
from ranking.online.measures import gini, impression_value, jaccard_pairs, ndcg_at, taste_distance
from ranking.online.policies import ListPolicy, item_clicks, propensities
from ranking.stages.postprocess import postprocess

Progress = Callable[[str, float, str, dict], None]  # as ranking.pipeline.Progress
Trainer = Callable[..., dict]  # (prep, config, progress) -> trained stage outputs; default pipeline.train
PIPELINE = "pipeline"


@dataclass(eq=False)
class LoopResult:
    """One row of measures per round (``table``) for one policy."""

    policy: str
    rounds: int
    days: int
    seed: int
    table: pd.DataFrame


def _logged(world: LiveWorld, days: int) -> tuple[dict[str, np.ndarray], int]:
    """The world's own log over its last ``days`` days (world positions) and that period's start."""
    inter = world.dataset.interactions
    t = (inter[S.EVENT_TS] - world.spec.start_ts).dt.total_seconds().to_numpy().astype(np.int64)
    start = world.now_s - days * DAY_S
    keep = t >= start
    log = {"user": inter[S.USER_ID].to_numpy(np.int64)[keep] - 1,
           "item": inter[S.CONTENT_ID].to_numpy(np.int64)[keep] - 101, "event_s": t[keep],
           **{c: inter[c].to_numpy()[keep] for c in OUTCOME_COLUMNS}}
    return log, start


def measure(world: LiveWorld, log: dict[str, np.ndarray], start_s: int, end_s: int, labels: LabelConfig,
            slates: np.ndarray | None, gain: np.ndarray | None, eligible: np.ndarray | None, niche: np.ndarray,
            pairs: int, rng: np.random.Generator) -> dict[str, float]:
    """The module docstring's measures of one period's log."""
    n_items = world.n_items
    pub = world.published_s
    live = (pub < end_s) & (pub >= start_s - world.max_age_days * DAY_S)
    counts = np.bincount(log["item"], minlength=n_items)[:n_items]
    value = impression_value(log, labels)
    pop = item_clicks(world, before_s=start_s)
    out = {"impressions": len(value), "value per impression": float(value.mean()) if len(value) else np.nan,
           **{f"{c} per impression": float(np.mean(log[c])) if len(value) else np.nan for c in OUTCOME_COLUMNS},
           "coverage": float((counts[live] > 0).mean()) if live.any() else np.nan,
           "exposure Gini": gini(counts[live]),
           "recommended popularity (clicks)": float(pop[log["item"]].mean()) if len(value) else np.nan,
           "feed similarity (Jaccard)": jaccard_pairs(log["user"], log["item"], world.n_users, n_items, pairs, rng)}
    nd = ndcg_at(slates, gain, eligible) if slates is not None else np.full(world.n_users, np.nan)
    out["oracle NDCG@10"] = float(np.nanmean(nd)) if np.isfinite(nd).any() else np.nan
    for name, group in (("mainstream", ~niche), ("niche", niche)):
        sel = group[log["user"]]
        out[f"value per impression, {name}"] = float(value[sel].mean()) if sel.any() else np.nan
        g = nd[group]
        out[f"oracle NDCG@10, {name}"] = float(np.nanmean(g)) if np.isfinite(g).any() else np.nan
    return out


def feedback_loop(dataset: Dataset, policy=PIPELINE, rounds: int = 5, days: int = 3, seed: int = 0,
                  config: PipelineConfig | None = None, labels: LabelConfig | None = None, pairs: int = 2000,
                  progress: Progress | None = None, train: Trainer | None = None) -> LoopResult:
    """Deploy ``policy`` ("pipeline": retrained on its own log every round; or a policy object) for
    ``rounds`` rounds of ``days`` days; measures per round (round 0 = the world's logging policy).

    ``seed`` drives the simulation (visits, outcomes, new items, pairs); training uses ``config``'s seed."""
    config = config or PipelineConfig()
    labels = labels or config.labels
    say = progress or (lambda stage, fraction, message, logs: None)
    train = train or (lambda prep, cfg, prog: pipeline.train(prep, cfg, progress=prog))
    world = LiveWorld(dataset, seed, max_age_days=config.stage1.max_age_days or 7.0)
    niche = taste_distance(world.truth.taste) > np.median(taste_distance(world.truth.taste))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 23]))
    log0, start0 = _logged(world, days)
    name = policy if isinstance(policy, str) else getattr(policy, "name", "policy")
    rows = [{"round": 0, "policy": "logging policy (before)",
             **measure(world, log0, start0, world.now_s, labels, None, None, None, niche, pairs, rng)}]
    for r in range(1, rounds + 1):
        base = (r - 1) / rounds
        if isinstance(policy, str):
            if policy != PIPELINE:
                raise ValueError(f"unknown policy {policy!r}; valid: {PIPELINE!r} or a policy object")
            say("train", base, f"round {r} of {rounds}: retraining every stage on {world.day} served days", {})
            prep = pipeline.prepare_data(world.to_dataset(), config)

            def step(stage: str, fraction: float, message: str, logs: dict, _r: int = r, _b: float = base) -> None:
                say(stage, _b + 0.9 * fraction / rounds, f"round {_r} of {rounds}, {stage}: {message}", logs)

            # the final lists as ``pipeline.finish`` makes them, without its evaluation (not needed to serve)
            outs = pipeline.reweight(prep, train(prep, config, step))
            current = ListPolicy(name, postprocess(prep, outs["stage3"].lists, config.post).lists, prep.dataset)
        else:
            current = policy
        say("serve", base + 0.9 / rounds, f"round {r} of {rounds}: serving {days} days", {})
        start = world.now_s
        truth, eligible = world.truth_now(), world.eligible()
        first = current.slates(world)
        gain = truth.gain(np.arange(world.n_users), labels)
        log = world.run_days(days, lambda w, _p=current, _f=first, _s=start: _f if w.now_s == _s else _p.slates(w),
                             propensity=lambda w, s, _p=current: propensities(_p, w, s))
        rows.append({"round": r, "policy": name,
                     **measure(world, log, start, world.now_s, labels, first, gain, eligible, niche, pairs, rng)})
    say("done", 1.0, "done", {})
    return LoopResult(name, rounds, days, seed, pd.DataFrame(rows))
