"""Saved runs: rankings.csv, metrics.json, config.json and the fitted models, reloadable without retraining.

This is the one module besides ``ranking.data`` that touches files: it owns the layout of a run
folder. Tables and JSON go through ``ranking.data``'s writers (one formatting rule); models are
pickled. Only load pickles from run folders this program wrote (the app keeps them under an
unguessable id in a private folder; see pages/ui/runs.py).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from ranking import data
from ranking.config import PipelineConfig
from ranking.data.dataset import Dataset
from ranking.errors import DataError

RANKINGS = "rankings.csv"
METRICS = "metrics.json"
CONFIG = "config.json"
MODELS = "models.pkl"
FORMAT = 1


def metrics_document(evaluation: dict, timing_s: dict, config: PipelineConfig) -> dict:
    """The JSON-able summary of a run (per-user arrays left out; NaN becomes null, which strict JSON allows)."""
    return _null_nan({
        "stages": evaluation["stages"],
        "transitions": evaluation.get("transitions", {}),
        "baseline": evaluation.get("baseline", {}),
        "calibration": evaluation.get("calibration", {}),
        "notes": evaluation.get("notes", []),
        "timing_s": timing_s,
        "config": config.to_dict(),
    })


def _null_nan(obj):
    if isinstance(obj, dict):
        return {k: _null_nan(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_null_nan(v) for v in obj]
    if isinstance(obj, float | np.floating) and not np.isfinite(obj):
        return None
    return obj


def save_run(folder: str | Path, result) -> Path:
    """Write a PipelineResult: rankings, metrics, resolved config and pickled models + lists."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data.write_csv(folder / RANKINGS, result.rankings_frame())
    data.write_json(folder / METRICS, metrics_document(result.evaluation, result.timing_s, result.config))
    data.write_json(folder / CONFIG, result.config.to_dict())
    payload = {
        "format": FORMAT,
        "dataset": {"name": result.prep.dataset.name, "fingerprint": result.prep.dataset.fingerprint},
        "stage1": result.stage1, "stage2": result.stage2, "stage3": result.stage3, "post": result.post,
        "timing_s": result.timing_s,
    }
    tmp = folder / (MODELS + ".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(folder / MODELS)
    return folder


def load_run(folder: str | Path, dataset: Dataset):
    """Rebuild a PipelineResult from a run folder and the dataset it was trained on (no training)."""
    from ranking import pipeline as P

    folder = Path(folder)
    config = PipelineConfig.from_dict(data.read_json(folder / CONFIG))
    with open(folder / MODELS, "rb") as fh:
        payload = pickle.load(fh)  # our own run folder (see the module docstring)
    if payload.get("format") != FORMAT:
        raise DataError(f"{folder}: run format {payload.get('format')} is not {FORMAT}; train again")
    if payload["dataset"]["fingerprint"] != dataset.fingerprint:
        raise DataError(f"{folder}: this run was trained on other data ({payload['dataset']['name']})")
    prep = P.prepare_data(dataset, config)
    evaluation = P.evaluate_run(prep, config, payload["stage1"], payload["stage2"], payload["stage3"],
                                payload["post"])
    return P.PipelineResult(config, prep, payload["stage1"], payload["stage2"], payload["stage3"],
                            payload["post"], evaluation, payload["timing_s"])


def same_rankings(a, b) -> bool:
    """True when two results rank every user identically at every stage."""
    la, lb = a.lists(), b.lists()
    return la.keys() == lb.keys() and all(np.array_equal(la[s].items, lb[s].items) for s in la)


SNAPSHOT = "snapshot.pkl"
META = "meta.json"


def save_snapshot(folder: str | Path, payload: object, meta: dict) -> Path:
    """Pickle an app session's trained state with a small JSON description beside it (atomic)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (SNAPSHOT + ".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(folder / SNAPSHOT)
    data.write_json(folder / META, meta)
    return folder


def load_snapshot(folder: str | Path) -> tuple[object, dict]:
    """The payload and description written by ``save_snapshot``."""
    folder = Path(folder)
    meta = data.read_json(folder / META)
    with open(folder / SNAPSHOT, "rb") as fh:
        payload = pickle.load(fh)  # only folders this program wrote, named by a validated id
    return payload, meta
