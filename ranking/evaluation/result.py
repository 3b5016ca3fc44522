"""The typed result of evaluating a run: metrics per list, per transition and for the random baseline.

Where it sits: returned by ``ranking.evaluation.evaluate.evaluate_pipeline`` and carried by every
``PipelineResult``; the CLI, saved runs and the pages read it through these fields and helpers
instead of picking apart nested dicts. Metric keys come from ``ranking.names``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ranking import names


@dataclass(frozen=True, eq=False)
class RunEvaluation:
    """Scalar metrics of every list and transition, notes, per-user arrays and calibration tables.

    ``basis`` is the per-user metric transitions compare: oracle NDCG@k on a world with a truth
    (every served user counts), else held-out NDCG@k.
    """

    k: int
    basis: str
    stages: dict[str, dict[str, float]]
    transitions: dict[str, dict[str, float]] = field(default_factory=dict)
    baseline: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    calibration: dict[str, pd.DataFrame] = field(default_factory=dict)
    per_user: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)  # see ranking.evaluation.baselines
    counterfactual: dict = field(default_factory=dict)  # see ranking.evaluation.counterfactual
    impressions: dict = field(default_factory=dict)  # per-impression metrics: ranking.evaluation.impression

    @property
    def has_oracle(self) -> bool:
        """True when the lists were also scored against a world's truth."""
        return self.basis.startswith("oracle_ndcg")

    def value(self, stage: str, base: str) -> float:
        """One metric of one list (or of "random"), NaN when it was not measured."""
        row = self.baseline if stage == "random" else self.stages.get(stage, self.baselines.get(stage, {}))
        key = base if base.startswith("n_") or base in ("auc", "logloss", "ece") else names.at(base, self.k)
        return float(row.get(key, np.nan))

    def headline(self, stage: str) -> float:
        """The basis metric (oracle NDCG@k, else held-out NDCG@k) of one list."""
        row = self.baseline if stage == "random" else self.stages.get(stage) or self.baselines.get(stage, {})
        return float(row.get(self.basis, np.nan))

    def table(self) -> pd.DataFrame:
        """Metrics as a frame: one row per list (funnel order), one column per metric key."""
        frame = pd.DataFrame(self.stages).T.apply(pd.to_numeric, errors="coerce")
        frame.index.name = "stage"
        return frame

    def reference_values(self, key: str) -> dict[str, float]:
        """Each reference list's value of one metric key: the baselines, then random order."""
        out = {n: float(m.get(key, np.nan)) for n, m in self.baselines.items()}
        return {**out, "random": float(self.baseline.get(key, np.nan))}

    def yardsticks(self) -> dict[str, dict[str, float]]:
        """Stage list → value for the truth (``oracle``), held-out NDCG and each off-policy estimate."""
        out = {"oracle": {n: float(m.get(names.at("oracle_ndcg", self.k), np.nan)) for n, m in self.stages.items()},
               "heldout_ndcg": {n: float(m.get(names.at("ndcg", self.k), np.nan)) for n, m in self.stages.items()}}
        values = self.counterfactual.get("values", {})
        for est in ("ips", "clipped_ips", "snips", "dr"):
            out[est] = {n: float(values.get(n, {}).get(est, np.nan)) for n in self.stages}
        return out

    def yardstick_intervals(self) -> dict[str, dict[str, tuple[float, float]]]:
        """Estimator → stage list → its 95 % interval (low, high), where the estimate has one."""
        values = self.counterfactual.get("values", {})
        return {est: {n: (float(values.get(n, {}).get(f"{est}_low", np.nan)),
                          float(values.get(n, {}).get(f"{est}_high", np.nan))) for n in self.stages}
                for est in ("ips", "clipped_ips", "snips", "dr")}

    def counterfactual_table(self) -> pd.DataFrame:
        """One row per list and baseline: oracle NDCG@k, held-out NDCG@k, the true policy value (generated worlds),
        IPS, clipped IPS, SNIPS, DR with their 95 % intervals, effective sample size, matched impressions."""
        values = self.counterfactual.get("values", {})
        keys = ("true_value", *(f"{e}{part}" for e in ("ips", "clipped_ips", "snips", "dr")
                                for part in ("", "_low", "_high")), "effective_sample_size", "n_matched")
        rows = {n: {names.at("oracle_ndcg", self.k): m.get(names.at("oracle_ndcg", self.k), np.nan),
                    names.at("ndcg", self.k): m.get(names.at("ndcg", self.k), np.nan),
                    **{e: values.get(n, {}).get(e, np.nan) for e in keys}}
                for n, m in {**self.stages, **self.baselines}.items()}
        return pd.DataFrame(rows).T.apply(pd.to_numeric, errors="coerce")

    def to_document(self) -> dict:
        """JSON-able summary (per-user arrays left out; NaN stays NaN: the writer turns it into null)."""
        return {
            "k": self.k, "basis": self.basis, "stages": self.stages, "transitions": self.transitions,
            "baseline": self.baseline, "notes": list(self.notes),
            "calibration": {n: c.to_dict("records") for n, c in self.calibration.items()},
            "baselines": self.baselines, "counterfactual": self.counterfactual, "impressions": self.impressions,
        }
