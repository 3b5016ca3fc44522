"""How often each off-policy estimator's paired 95 % interval covers the true difference between two lists.

`python -m benchmarks --coverage [--quick]`: generated worlds × training seeds; on each, a full run, then for
stage 2 vs the final list (and stage 1 vs stage 2) the true difference of policy value (the world's truth, see
``ranking.evaluation.counterfactual``) and whether IPS, clipped IPS, SNIPS and DR's paired user-bootstrap
intervals hold it. Public API only.
"""

from __future__ import annotations

import json

import ranking
from ranking.evaluation.counterfactual import ESTIMATORS, TITLES

WORLDS = ({"n_users": 1500, "n_items": 400, "n_interactions": 60_000, "seed": 101},
          {"n_users": 2000, "n_items": 500, "n_interactions": 80_000, "seed": 202},
          {"n_users": 1200, "n_items": 300, "n_interactions": 48_000, "seed": 303})
SEEDS = (0, 1)
PAIRS = ("stage2→final", "stage1→stage2")


def measure(worlds=WORLDS, seeds=SEEDS) -> list[dict]:
    """One record per world, training seed and pair: the true difference and each estimator's interval."""
    out = []
    for spec in worlds:
        dataset = ranking.generate(ranking.WorldSpec(**spec)).to_dataset()
        for seed in seeds:
            result = ranking.run(dataset, ranking.PipelineConfig(seed=seed))
            diffs = result.evaluation.counterfactual["differences"]
            for pair in PAIRS:
                d = diffs[pair]
                out.append({"world": spec["seed"], "seed": seed, "pair": pair, "true": d["true"],
                            **{f"{e}{p}": d[f"{e}{p}"] for e in ESTIMATORS for p in ("", "_low", "_high", "_covers")}})
    return out


def table(records: list[dict]) -> list[str]:
    """Coverage per estimator and pair, as text lines."""
    lines = ["pair            " + "  ".join(f"{TITLES[e]:>14s}" for e in ESTIMATORS)]
    for pair in PAIRS:
        rows = [r for r in records if r["pair"] == pair]
        cells = [f"{sum(r[f'{e}_covers'] for r in rows)}/{len(rows)}" for e in ESTIMATORS]
        lines.append(f"{pair:16s}" + "  ".join(f"{c:>14s}" for c in cells))
    return lines


def main(quick: bool = False, as_json: bool = False) -> int:
    records = measure(WORLDS[:1] if quick else WORLDS, SEEDS[:1] if quick else SEEDS)
    if as_json:
        print(json.dumps(records, indent=1))
        return 0
    for r in records:
        print(f"world {r['world']} seed {r['seed']} {r['pair']}: true {r['true']:+.3f}; " + "; ".join(
            f"{TITLES[e]} {r[e]:+.3f} [{r[e + '_low']:+.3f}, {r[e + '_high']:+.3f}]"
            + (" covers" if r[e + "_covers"] else "") for e in ESTIMATORS))
    print("\n".join(table(records)))
    return 0
