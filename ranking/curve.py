"""How much data does each stage need? Oracle NDCG against the share of the training log used.

Where it sits: beside ``ranking.study`` (which it resembles: it calls ``ranking.pipeline`` and never orders
stages itself). The data is labelled and split ONCE, so the held-out users, the eligible items and the truth
stay fixed; for each share of the training log (a seeded sample of its rows, drawn per training seed) every
stage and every baseline is fitted on that sample alone and evaluated. Items a user saw in rows left out still
count as seen (the user did see them): only what the models learn from shrinks.

The lesson is the crossover: the smallest share at which the final feed's mean over seeds reaches the best
transparent baseline's (:meth:`LearningCurve.crossover`), said in one sentence (:meth:`LearningCurve.sentence`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ranking import names, pipeline
from ranking.config import PipelineConfig
from ranking.data.dataset import Dataset
from ranking.evaluation.baselines import BASELINES, TITLES
from ranking.names import STAGES
from ranking.prep.split import IS_TEST, Prepared
from ranking.stages.contract import StageOutput

SHARES = (0.1, 0.25, 0.5, 1.0)
DEFAULT_SEEDS = 3
Progress = Callable[[str, float, str, dict], None]
Trainer = Callable[[Prepared, PipelineConfig, Progress], Mapping[str, StageOutput]]
TRANSPARENT = ("popularity", "smoothed_ctr", "heuristic", "freshness", "glm")  # no learned stage inside


def subsample(prep: Prepared, share: float, seed: int) -> Prepared:
    """``prep`` with a seeded ``share`` of its training rows (held-out rows and ``seen`` unchanged)."""
    if not 0.0 < share <= 1.0:
        raise ValueError(f"a share of the training log must be in (0, 1], got {share}")
    if share >= 1.0:
        return prep
    inter = prep.interactions
    train = np.flatnonzero(~inter[IS_TEST].to_numpy())
    rng = np.random.default_rng(np.random.SeedSequence([seed, round(share * 1e6)]))
    keep_n = max(1, round(share * len(train)))
    dropped = np.setdiff1d(train, np.sort(rng.choice(train, keep_n, replace=False)))
    return dataclasses.replace(prep, interactions=inter.drop(index=inter.index[dropped]))


@dataclass(frozen=True, eq=False)
class LearningCurve:
    """The basis metric per (share, training seed) and list (stages, final, baselines, random)."""

    basis: str
    shares: tuple[float, ...]
    seeds: tuple[int, ...]
    values: dict[float, dict[int, dict[str, float]]]  # share → seed → list → basis metric
    train_rows: dict[float, int] = field(default_factory=dict)
    seconds: float = 0.0

    def lists(self) -> list[str]:
        """Every list with a value, stages first, then the baselines, then random order."""
        seen = {n for by_seed in self.values.values() for row in by_seed.values() for n in row}
        order = [*names.LISTS, *BASELINES, "random"]
        return [n for n in order if n in seen] + sorted(seen - set(order))

    def band(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean, min, max) over seeds of one list, per share."""
        rows = np.array([[self.values[s][seed].get(name, np.nan) for seed in self.seeds] for s in self.shares])
        with np.errstate(all="ignore"):
            ok = ~np.isnan(rows).all(axis=1)
            mean = np.full(len(self.shares), np.nan)
            lo, hi = mean.copy(), mean.copy()
            mean[ok], lo[ok], hi[ok] = (np.nanmean(rows[ok], 1), np.nanmin(rows[ok], 1), np.nanmax(rows[ok], 1))
        return mean, lo, hi

    def best_transparent(self, share: float) -> tuple[str, float] | None:
        """The transparent baseline with the highest mean at ``share``."""
        at = self.shares.index(share)
        means = {n: self.band(n)[0][at] for n in TRANSPARENT if n in self.lists()}
        means = {n: v for n, v in means.items() if np.isfinite(v)}
        return max(means.items(), key=lambda kv: kv[1]) if means else None

    def learned(self) -> str | None:
        """The last learned list on the curve (final when post-processing ran)."""
        return next((n for n in reversed(names.LISTS) if n in self.lists()), None)

    def crossover(self) -> float | None:
        """The smallest share from which on (at it and every larger share) the last learned list's mean is at
        least the best transparent baseline's; None when no such share exists."""
        last = self.learned()
        if last is None:
            return None
        mine = self.band(last)[0]
        found = None
        for j in reversed(range(len(self.shares))):
            best = self.best_transparent(self.shares[j])
            if best is None or not np.isfinite(mine[j]) or mine[j] < best[1]:
                break
            found = self.shares[j]
        return found

    def sentence(self) -> str:
        """The lesson in one sentence, with the numbers."""
        last = self.learned()
        if last is None or not self.shares:
            return "No learned list was evaluated."
        who = names.SHORT.get(last, last)
        full = self.shares[-1]
        best_full = self.best_transparent(full)
        mine_full = self.band(last)[0][-1]
        metric = names.title(self.basis)
        if best_full is None:
            return f"{who} reaches {metric} {mine_full:.3f} with {full:.0%} of the training log."
        cross = self.crossover()
        tail = (f"with {full:.0%} of the log {who} has {mine_full:.3f} and the best transparent baseline "
                f"({TITLES[best_full[0]]}) {best_full[1]:.3f}, mean over {len(self.seeds)} training seeds")
        _, lo, hi = self.band(last)
        spread = float(hi[-1] - lo[-1])
        if abs(mine_full - best_full[1]) <= spread:  # the seeds' own spread covers the gap: no winner shown
            return (f"{who} and the best transparent baseline are within the spread of training seeds: {tail} "
                    f"({who} ranges {lo[-1]:.3f}–{hi[-1]:.3f} over the seeds); the seed check decides.")
        if cross is None:
            return f"{who} does not stay at or above the best transparent baseline from any share on: {tail}."
        first = self.best_transparent(cross)
        at = self.shares.index(cross)
        return (f"{who} is at or above the best transparent baseline from {cross:.0%} of the training log on "
                f"({self.band(last)[0][at]:.3f} vs {TITLES[first[0]]} {first[1]:.3f}); {tail}.")

    def to_document(self) -> dict:
        """JSON-able (NaN stays NaN: the strict writer turns it into null)."""
        return {"basis": self.basis, "basis_title": names.title(self.basis), "shares": list(self.shares),
                "seeds": list(self.seeds), "train_rows": {str(s): n for s, n in self.train_rows.items()},
                "values": {str(s): {str(seed): row for seed, row in by.items()} for s, by in self.values.items()},
                "crossover": self.crossover(), "sentence": self.sentence(), "seconds": self.seconds}


def _train_here(prep: Prepared, config: PipelineConfig, progress: Progress) -> Mapping[str, StageOutput]:
    return pipeline.train(prep, config, STAGES, progress=progress)


def learning_curve(prep: Prepared, config: PipelineConfig, shares: Sequence[float] = SHARES,
                   seeds: Sequence[int] | None = None, *, progress: Progress | None = None,
                   train: Trainer | None = None) -> LearningCurve:
    """Train and evaluate every stage and baseline on each share of the training log, per training seed."""
    shares = tuple(sorted(set(float(s) for s in shares)))
    seeds = tuple(seeds) if seeds is not None else tuple(config.seed + i for i in range(DEFAULT_SEEDS))
    if not shares or not seeds:
        raise ValueError("a learning curve needs at least one share and one training seed")
    say = progress or (lambda stage, fraction, message, logs: None)
    fit = train or _train_here
    t0 = time.perf_counter()
    values: dict[float, dict[int, dict[str, float]]] = {}
    rows: dict[float, int] = {}
    basis = ""
    steps = len(shares) * len(seeds)
    for a, share in enumerate(shares):
        values[share] = {}
        for b, seed in enumerate(seeds):
            done = a * len(seeds) + b
            part = subsample(prep, share, seed)
            rows[share] = len(part.train)
            cfg = dataclasses.replace(config, seed=seed)

            def step(stage: str, fraction: float, message: str, logs: dict, _d: int = done, _s: float = share,
                     _seed: int = seed) -> None:
                inner = (STAGES.index(stage) + fraction) / len(STAGES) if stage in STAGES else 0.0
                say("curve", (_d + inner) / steps, f"{_s:.0%} of the log, seed {_seed}: {message}", logs)

            outputs = fit(part, cfg, step)
            say("curve", (done + 1) / steps, f"{share:.0%} of the log, seed {seed}: evaluating", {})
            ev = pipeline.finish(part, cfg, outputs).evaluation
            basis = ev.basis
            values[share][seed] = {n: ev.headline(n) for n in [*ev.stages, *ev.baselines, "random"]}
    return LearningCurve(basis, shares, seeds, values, rows, time.perf_counter() - t0)


def summary_lines(curve: LearningCurve) -> list[str]:
    """What the CLI's ``curve`` prints: one row per list, mean [min–max] over seeds per share, and the lesson."""
    head = ["list", *(f"{s:.0%} ({curve.train_rows.get(s, 0):,} rows)" for s in curve.shares)]
    rows = [head]
    for name in curve.lists():
        mean, lo, hi = curve.band(name)
        title = TITLES.get(name) or names.SHORT.get(name, name)
        rows.append([title, *("n/a" if np.isnan(m) else f"{m:.3f} [{lo_:.3f}–{hi_:.3f}]"
                              for m, lo_, hi_ in zip(mean, lo, hi, strict=True))])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    table = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]
    return [f"{names.title(curve.basis)} by share of the training log (mean [min–max] over training seeds "
            f"{', '.join(map(str, curve.seeds))}; split, held-out users and eligible items fixed):", *table,
            curve.sentence(), f"({curve.seconds:.0f} s)"]


def command(dataset: Dataset, config: PipelineConfig, n_seeds: int, out: Path | None,
            progress: Progress | None = None, shares: Sequence[float] = SHARES) -> int:
    """The CLI's ``curve``: label and split once, run the curve, print it, write curve.json to ``out``."""
    from ranking.data import store

    prep = pipeline.prepare_data(dataset, config)
    curve = learning_curve(prep, config, shares, tuple(config.seed + i for i in range(n_seeds)), progress=progress)
    print("\n".join(summary_lines(curve)))
    if out is not None:
        store.write_curve(out, {**curve.to_document(), "config": config.to_dict()})
        print(f"wrote {out}: {store.CURVE}")
    return 0
