"""Do the learned stages earn their place? Oracle NDCG@10 per world × training seed × list, baselines included.

`python -m benchmarks --quality [--quick] [--json]` trains every stage on three generated worlds
(small, sample-sized, 20k users; ``--quick`` skips the 20k world) with three training seeds each,
on one label + split per world, and prints one row per (world, seed): the baselines (popularity,
affinity + quality heuristic, logistic regression on stage 2's features, where the evaluation
computes them) and the four lists, all judged by the world's truth under the default weights.
It also times what a weight slider costs: re-ranking every user's stage-2, stage-3 and final
lists for new weights (``pipeline.reweight``) and the full ``pipeline.finish`` (re-rank +
post-processing + evaluation) on the sample world, and "train all" on the sample world.
Public APIs only.
"""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np

from ranking import pipeline
from ranking.config import LabelConfig, PipelineConfig
from ranking.data import synth
from ranking.names import at
from ranking.stages.postprocess import postprocess

WORLDS = {
    "small 300×120": {"n_users": 300, "n_items": 120, "n_interactions": 6000, "seed": 0},
    "sample 600×300": {"n_users": 600, "n_items": 300, "n_interactions": 24000, "seed": 0},
    "20k×2k": {"n_users": 20000, "n_items": 2000, "n_interactions": 400000, "seed": 0},
}
SEEDS = (42, 43, 44)
BASELINE_NAMES = ("popularity", "heuristic", "logreg")
LISTS = ("stage1", "stage2", "stage3", "final")
SHARES_ONLY = LabelConfig(w_click=0.0, w_dwell=0.0, w_share=1.0, w_comment=0.0, w_hide=0.0)


def _oracle(evaluation, name: str) -> float:
    key = at("oracle_ndcg", evaluation.k)
    baselines = getattr(evaluation, "baselines", {}) or {}
    row = evaluation.stages.get(name) or baselines.get(name) or {}
    return float(row.get(key, np.nan))


def world_rows(name: str, spec: dict, seeds=SEEDS, config: PipelineConfig | None = None) -> tuple[list, dict]:
    """One row per training seed: oracle NDCG@10 of every baseline and list, and the training seconds."""
    config = config or PipelineConfig()
    dataset = synth.generate(synth.WorldSpec(**spec)).to_dataset()
    prep = pipeline.prepare_data(dataset, config)
    rows, last = [], None
    for seed in seeds:
        c = dataclasses.replace(config, seed=seed)
        t0 = time.perf_counter()
        outputs = pipeline.train(prep, c)
        train_s = time.perf_counter() - t0
        result = pipeline.finish(prep, c, outputs)
        ev = result.evaluation
        rows.append({"world": name, "seed": seed, "train_s": train_s,
                     **{n: _oracle(ev, n) for n in (*BASELINE_NAMES, *LISTS)}})
        last = (prep, c, outputs)
    return rows, {"last": last}


def reweight_timing(prep, config, outputs, repeats: int = 5) -> dict:
    """Milliseconds to re-rank for new weights: every user's stage-2, stage-3 and final lists, and the whole
    ``finish`` (those lists + every metric, baselines included: what a page shows after a slider move)."""
    moved = dataclasses.replace(prep, labels=SHARES_ONLY)
    lists_ms, finish_ms = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        outs = pipeline.reweight(moved, outputs)
        postprocess(moved, outs["stage3"].lists, config.post)  # the final lists too
        lists_ms.append(1000 * (time.perf_counter() - t0))
        t0 = time.perf_counter()
        pipeline.finish(moved, config, outputs)
        finish_ms.append(1000 * (time.perf_counter() - t0))
    return {"reweight_lists_ms": float(np.median(lists_ms)), "reweight_finish_ms": float(np.median(finish_ms))}


def measure(quick: bool = False) -> dict:
    rows, timing = [], {}
    for name, spec in WORLDS.items():
        if quick and spec["n_users"] > 1000:
            continue
        got, extra = world_rows(name, spec)
        rows += got
        if name.startswith("sample"):
            timing = {"train_all_s_median": float(np.median([r["train_s"] for r in got])),
                      **reweight_timing(*extra["last"])}
    return {"rows": rows, "sample_world": timing}


def format_table(result: dict) -> str:
    cols = (*BASELINE_NAMES, *LISTS)
    head = ["world", "seed", *cols, "final − heuristic", "train s"]
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for r in result["rows"]:
        cells = [r["world"], str(r["seed"]), *(f"{r[c]:.3f}" if r[c] == r[c] else "—" for c in cols),
                 f"{r['final'] - r['heuristic']:+.3f}" if r["heuristic"] == r["heuristic"] else "—",
                 f"{r['train_s']:.1f}"]
        lines.append(" | ".join(cells))
    t = result.get("sample_world") or {}
    if t:
        lines.append("")
        lines.append(f"sample world: train all (median of 3 seeds) {t['train_all_s_median']:.1f} s; new weights → "
                     f"every user's stage-2, stage-3 and final lists re-ranked in {t['reweight_lists_ms']:.0f} ms, "
                     f"with every metric re-evaluated {t['reweight_finish_ms']:.0f} ms")
    return "\n".join(lines)


def main(quick: bool = False, as_json: bool = False) -> int:
    result = measure(quick)
    print(json.dumps(result, indent=1) if as_json else format_table(result))
    return 0
