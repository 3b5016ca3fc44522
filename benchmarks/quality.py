"""Do the learned stages earn their place? The seed study against every baseline, on worlds made for the run.

`python -m benchmarks --quality [--quick] [--json] [--world-seed N]` generates five worlds (three at the sample
size 600 × 300 × 24k, one 2000 × 500 × 80k, one 20k × 2k × 400k; ``--quick``: the three sample-sized ones),
their world seeds N, N+1, … (default 9101: pass a seed never used before to test on unseen worlds), labels and
splits each once and runs the seed study (``ranking.study.seed_study``, training seeds 42, 43, 44). Per world it
prints every list's and baseline's oracle NDCG@10 (mean over seeds), the verdict of each baseline → final and of
stage 2 → stage 3, the final feed's mean margin over the best baseline, and what a shares-only re-weighting
(w_share 5, the rest 0, no retraining) does to the final feed's shares-only oracle NDCG@10. It also times "train
all" and a weight move on the first sample-sized world. Public APIs only.
"""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np

from ranking import pipeline, study
from ranking.config import PipelineConfig
from ranking.data import synth
from ranking.evaluation import evaluate as E
from ranking.evaluation.baselines import BASELINES
from ranking.evaluation.seeds import BASELINE_SHORT
from ranking.names import at
from ranking.stages.postprocess import postprocess

SIZES = (("sample", 600, 300, 24000), ("sample", 600, 300, 24000), ("sample", 600, 300, 24000),
         ("2000×500", 2000, 500, 80000), ("20k×2k", 20000, 2000, 400000))
WORLD_SEED = 9101
SEEDS = (42, 43, 44)
LISTS = ("stage1", "stage2", "stage3", "final")
SHARES_ONLY = {"w_click": 0.0, "w_dwell": 0.0, "w_share": 5.0, "w_comment": 0.0, "w_hide": 0.0}


def shares_only(prep, config: PipelineConfig, outputs) -> tuple[float, float]:
    """The final feed's shares-only oracle NDCG@k before (lists made for the run's weights) and after re-ranking
    for shares-only weights without retraining (``pipeline.finish`` on the relabelled data)."""
    labels = dataclasses.replace(config.labels, **SHARES_ONLY)
    cfg = dataclasses.replace(config, labels=labels)
    moved = pipeline.prepare_data(prep.dataset, cfg, same_split=prep)
    old = pipeline.finish(prep, config, outputs)
    key = at("oracle_ndcg", config.eval.k)
    before = E.evaluate_stage(moved, old.post.lists, k=config.eval.k, cand_config=config.stage1, stage="final")
    after = pipeline.finish(moved, cfg, outputs).evaluation
    return float(before.metrics[key]), float(after.stages["final"][key])


def world_row(label: str, spec: synth.WorldSpec, config: PipelineConfig | None = None) -> dict:
    """One world: the seed study's means and verdicts, the best-baseline margin and the shares-only check."""
    config = config or PipelineConfig()
    dataset = synth.generate(spec).to_dataset()
    prep = pipeline.prepare_data(dataset, config)
    trained: dict = {}

    def train(p, cfg, progress):
        t0 = time.perf_counter()
        out = pipeline.train(p, cfg, progress=progress)
        trained[cfg.seed] = (out, time.perf_counter() - t0)
        return out

    result = study.seed_study(prep, config, SEEDS, train=train)
    means = {n: float(np.nanmean([result.headline[s].get(n, np.nan) for s in SEEDS]))
             for n in (*LISTS, *BASELINES, "random") if any(n in result.headline[s] for s in SEEDS)}
    verdicts = {c.a: c.verdict_text() for c in result.comparisons if c.a in BASELINE_SHORT}
    margin = result.baseline_margin()
    before, after = shares_only(prep, dataclasses.replace(config, seed=SEEDS[0]), trained[SEEDS[0]][0])
    return {"world": f"{label} {spec.n_users}×{spec.n_items}×{spec.n_interactions} (world seed {spec.seed})",
            "means": means, "verdicts": verdicts,
            "stage2_to_stage3": result.comparison("stage2", "stage3").verdict_text(),
            "best_baseline": None if margin is None else margin[0],
            "margin": None if margin is None else margin[1],
            "notes": [n for n in result.evaluations[SEEDS[0]].notes if n.startswith(("Stage 3 passes", "Fresh"))],
            "shares_only_before": before, "shares_only_after": after,
            "train_s": [trained[s][1] for s in SEEDS], "prep": prep, "outputs": trained[SEEDS[0]][0]}


def reweight_timing(prep, config: PipelineConfig, outputs, repeats: int = 5) -> dict:
    """Milliseconds to re-rank for new weights: every user's stage-2, stage-3 and final lists, and the whole
    ``finish`` (those lists + every metric, baselines included: what a page shows after a slider move)."""
    moved = pipeline.prepare_data(prep.dataset, dataclasses.replace(
        config, labels=dataclasses.replace(config.labels, **SHARES_ONLY)), same_split=prep)
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


def measure(quick: bool = False, world_seed: int = WORLD_SEED) -> dict:
    rows, timing = [], {}
    for j, (label, users, items, inter) in enumerate(SIZES):
        if quick and users > 1000:
            continue
        spec = synth.WorldSpec(n_users=users, n_items=items, n_interactions=inter, seed=world_seed + j)
        row = world_row(label, spec)
        prep, outputs = row.pop("prep"), row.pop("outputs")
        if not timing:
            timing = {"train_all_s_median": float(np.median(row["train_s"])),
                      **reweight_timing(prep, dataclasses.replace(PipelineConfig(), seed=SEEDS[0]), outputs)}
        rows.append(row)
    return {"rows": rows, "sample_world": timing, "seeds": list(SEEDS)}


def format_table(result: dict) -> str:
    cols = [*LISTS, *BASELINES]
    short = {"stage1": "stage 1", "stage2": "stage 2", "stage3": "stage 3", "final": "final", **BASELINE_SHORT}
    head = ["world", *(short[c] for c in cols), "final − best baseline", "stage 2 → 3", "shares-only final"]
    lines = [f"Oracle NDCG@10, mean over training seeds {', '.join(map(str, result['seeds']))}:",
             " | ".join(head), " | ".join("---" for _ in head)]
    for r in result["rows"]:
        m = r["means"]
        margin = "—" if r["margin"] is None else f"{r['margin']:+.3f} ({BASELINE_SHORT[r['best_baseline']]})"
        lines.append(" | ".join([r["world"], *(f"{m[c]:.3f}" if m.get(c) == m.get(c) and c in m else "—"
                                                for c in cols), margin, r["stage2_to_stage3"],
                                 f"{r['shares_only_before']:.3f} → {r['shares_only_after']:.3f}"]))
    lines.append("")
    lines.append("Verdicts of the seed study, each baseline → final:")
    for r in result["rows"]:
        lines.append(f"- {r['world']}: " + "; ".join(f"{BASELINE_SHORT[b]}: {v}" for b, v in r["verdicts"].items()))
        lines += [f"  {n}" for n in r["notes"]]
    t = result.get("sample_world") or {}
    if t:
        lines.append("")
        lines.append(f"first sample-sized world: train all (median of {len(result['seeds'])} seeds) "
                     f"{t['train_all_s_median']:.1f} s; new weights → every user's stage-2, stage-3 and final lists "
                     f"re-ranked in {t['reweight_lists_ms']:.0f} ms, with every metric re-evaluated "
                     f"{t['reweight_finish_ms']:.0f} ms")
    return "\n".join(lines)


def main(quick: bool = False, as_json: bool = False, world_seed: int = WORLD_SEED) -> int:
    result = measure(quick, world_seed)
    print(json.dumps(result, indent=1) if as_json else format_table(result))
    return 0
