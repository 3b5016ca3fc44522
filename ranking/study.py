"""The seed study: the same data and split, every stage retrained with several training seeds.

Where it sits: beside ``ranking.pipeline`` (which it calls; it never orders stages itself). The data
is labelled and split ONCE with the base config, so the held-out users and the truth stay fixed;
only the stages' seed changes (``dataclasses.replace(config, seed=s)``). Each seed's lists are
evaluated by ``pipeline.finish`` and the statistics come from ``ranking.evaluation.seeds``.
The CLI (``seeds``) and the Evaluation page's background job both call :func:`seed_study`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ranking import names, pipeline
from ranking.config import PipelineConfig
from ranking.data import store
from ranking.data.dataset import Dataset
from ranking.evaluation import seeds as SS
from ranking.evaluation.seeds import SeedStudy
from ranking.names import STAGES
from ranking.prep.split import Prepared
from ranking.stages.contract import StageOutput

DEFAULT_SEEDS = 3
Progress = Callable[[str, float, str, dict], None]  # as ranking.pipeline: (stage, fraction 0..1, message, logs)
Trainer = Callable[[Prepared, PipelineConfig, Progress], Mapping[str, StageOutput]]


def training_seeds(config: PipelineConfig, n: int = DEFAULT_SEEDS) -> tuple[int, ...]:
    """The config's seed and the next n − 1 (the first one reproduces the ordinary run)."""
    if n < 1:
        raise ValueError(f"a seed study needs at least 1 seed, got {n}")
    return tuple(config.seed + i for i in range(n))


def _train_here(prep: Prepared, config: PipelineConfig, progress: Progress) -> Mapping[str, StageOutput]:
    return pipeline.train(prep, config, STAGES, progress=progress)


def seed_study(prep: Prepared, config: PipelineConfig, seeds: Sequence[int] | None = None, *,
               progress: Progress | None = None, train: Trainer | None = None,
               trained: Mapping[int, Mapping[str, StageOutput]] | None = None) -> SeedStudy:
    """Train every stage once per seed on ``prep`` (labelled and split once), evaluate, compare over seeds.

    ``train`` replaces the in-process training (the app trains in a worker process); ``trained``
    holds stages already trained for some seeds (e.g. the session's own run), which are reused.
    Verdict rule: see ``ranking.evaluation.seeds``.
    """
    seeds = tuple(seeds) if seeds is not None else training_seeds(config)
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"training seeds must differ, got {list(seeds)}")
    say = progress or (lambda stage, fraction, message, logs: None)
    fit = train or _train_here
    evaluations, seconds = {}, {}
    for i, seed in enumerate(seeds):
        cfg = dataclasses.replace(config, seed=seed)
        t = time.perf_counter()
        outputs = dict((trained or {}).get(seed, {}))
        if not all(s in outputs for s in STAGES):

            def step(stage: str, fraction: float, message: str, logs: dict, _i: int = i, _seed: int = seed) -> None:
                done = STAGES.index(stage) + fraction if stage in STAGES else 0.0
                say("seeds", (_i + done / len(STAGES)) / len(seeds), f"seed {_seed}: {message}", logs)

            outputs = dict(fit(prep, cfg, step))
        say("seeds", (i + 1) / len(seeds), f"seed {seed}: evaluating", {})
        evaluations[seed] = pipeline.finish(prep, cfg, outputs).evaluation
        seconds[seed] = time.perf_counter() - t
    return SS.study(evaluations, seconds=seconds)


def run_seed_study(dataset: Dataset, config: PipelineConfig | None = None, n_seeds: int = DEFAULT_SEEDS, *,
                   seeds: Sequence[int] | None = None, progress: Progress | None = None) -> SeedStudy:
    """Label and split ``dataset`` once with ``config``, then :func:`seed_study` over ``n_seeds`` seeds."""
    config = config or PipelineConfig()
    prep = pipeline.prepare_data(dataset, config)
    return seed_study(prep, config, seeds if seeds is not None else training_seeds(config, n_seeds),
                      progress=progress)


def summary_lines(result: SeedStudy) -> list[str]:
    """What the CLI's ``seeds`` prints: one row per comparison (effect per seed, mean ± SD, interval, verdict)."""
    basis = names.title(result.basis)
    head = ["comparison", *(f"seed {s}" for s in result.seeds), "mean ± SD",
            f"{result.comparisons[0].confidence:.0%} interval" if result.comparisons else "interval", "verdict"]
    rows = [head]
    for c in result.comparisons:
        lo, hi = c.interval
        rows.append([c.title(), *(f"{_n(e)} ({_p(p)})" for e, p in zip(c.effects, c.p_values, strict=True)),
                     f"{_n(c.mean)} ± {_n(c.sd, '.4f')}", f"[{_n(lo)}, {_n(hi)}]", c.verdict_text()])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    table = ["  ".join(cell.ljust(w) if i in (0, len(head) - 1) else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(r, widths, strict=True))).rstrip() for r in rows]
    lists = list(next(iter(result.headline.values()), {}))
    per_seed = ["  " + f"seed {s}: " + ", ".join(f"{SS.short(n)} {_n(v, '.4f')}" for n, v in row.items())
                + f" ({result.seconds.get(s, float('nan')):.0f} s)" for s, row in result.headline.items()]
    return [f"{basis} per list and training seed ({len(lists)} lists, split and held-out users fixed):", *per_seed,
            f"Effect = mean per-user change in {basis} (B − A), per seed (paired Wilcoxon p over users):",
            *table, f"Verdict rule: {SS.RULE}", *(f"note: {n}" for n in result.notes)]


def _n(v: float, spec: str = "+.4f") -> str:
    return "n/a" if v != v else format(v, spec)


def _p(p: float) -> str:
    return "p n/a" if p != p else "p<0.001" if p < 0.001 else f"p={p:.3f}"


def command(dataset: Dataset, config: PipelineConfig, n_seeds: int, out: Path | None,
            progress: Progress | None = None) -> int:
    """The CLI's ``seeds``: run the study, print its table, write seeds.json + metrics.json to ``out``."""
    result = run_seed_study(dataset, config, n_seeds, progress=progress)
    print("\n".join(summary_lines(result)))
    if out is not None:
        doc = {**result.to_document(), "config": config.to_dict()}
        first = result.seeds[0]
        metrics = store.metrics_document(result.evaluations[first], {"total": sum(result.seconds.values())},
                                         dataclasses.replace(config, seed=first), seeds=doc)
        store.write_seed_study(out, doc, metrics)
        print(f"wrote {out}: {store.SEEDS}, {store.METRICS} (seed {first}'s run with the study under \"seeds\")")
    return 0
