"""`python -m benchmarks --online`: time the online experiments on the bundled sample world (issue 23).

Rows: a 7-day A/B test of two policies (popularity vs the oracle, and the default-weights final list of a run
trained here vs the same stages re-ranked for shares only), team-draft interleaving of the same, and the
feedback loop, 5 rounds × 3 days, for popularity, the oracle and the pipeline (every stage retrained each
round). Wall and CPU seconds; targets: the A/B test ≤ 3 s, the loop ≤ 30 s (wall, on this machine, now).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

from ranking import pipeline
from ranking.config import PipelineConfig
from ranking.data.io import load_dataset
from ranking.online import ListPolicy, OraclePolicy, PopularityPolicy, ab_test, interleave_test
from ranking.online.loop import PIPELINE, feedback_loop

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
AB_TARGET_S, LOOP_TARGET_S = 3.0, 30.0
SHARES_ONLY = {"w_click": 0.0, "w_dwell": 0.0, "w_share": 5.0, "w_comment": 0.0, "w_hide": 0.0}


def _timed(fn):
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c


def measure() -> list[dict]:
    """Every row: name, wall and CPU seconds, target (or None) and pass flag."""
    dataset = load_dataset(SAMPLE)
    config = PipelineConfig()
    result = pipeline.run(dataset, config)
    shares = dataclasses.replace(config, labels=dataclasses.replace(config.labels, **SHARES_ONLY))
    reweighted = pipeline.finish(pipeline.prepare_data(dataset, shares), shares, result.outputs)
    pairs = {"popularity vs oracle": (PopularityPolicy(), OraclePolicy()),
             "default weights vs shares only": (ListPolicy.from_result(result, "default weights"),
                                                ListPolicy.from_result(reweighted, "shares only"))}
    rows = []
    for label, (a, b) in pairs.items():
        for what, fn in (("A/B test, 7 days", lambda a=a, b=b: ab_test(dataset, a, b, 7, 0)),
                         ("interleaving, 7 days", lambda a=a, b=b: interleave_test(dataset, a, b, 7, 0))):
            _, wall, cpu = _timed(fn)
            target = AB_TARGET_S if what.startswith("A/B") else None
            rows.append({"name": f"{what}: {label}", "wall_s": wall, "cpu_s": cpu, "target_s": target})
    for name, policy in (("popularity", PopularityPolicy()), ("oracle", OraclePolicy()), ("pipeline", PIPELINE)):
        _, wall, cpu = _timed(lambda p=policy: feedback_loop(dataset, p, 5, 3, 0, config))
        rows.append({"name": f"feedback loop 5 rounds × 3 days: {name}", "wall_s": wall, "cpu_s": cpu,
                     "target_s": LOOP_TARGET_S})
    for row in rows:
        row["pass"] = None if row["target_s"] is None else row["wall_s"] <= row["target_s"]
    return rows


def main(as_json: bool = False) -> int:
    """Print the rows (a Markdown table, or JSON) with the machine's load; exit 0 either way."""
    rows = measure()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    if as_json:
        print(json.dumps({"rows": rows, "load_average_1min": load, "cpus": os.cpu_count()}, indent=2))
        return 0
    print(f"| online (sample world, {os.cpu_count()} CPUs, load average {load:.1f}) | wall | CPU | target |")
    print("|---|---:|---:|---|")
    for r in rows:
        target = "–" if r["target_s"] is None else f"≤ {r['target_s']:g} s: {'pass' if r['pass'] else 'FAIL'}"
        print(f"| {r['name']} | {r['wall_s']:.2f} s | {r['cpu_s']:.2f} s | {target} |")
    return 0
