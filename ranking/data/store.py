"""Saved runs on disk: rankings.csv, metrics.json, config.json and the pickled stage outputs.

Where it sits: the file side of ``ranking.pipeline.save_run`` / ``load_run`` (which own what a run
*is*); this module owns only the layout of a run folder and the app's session snapshots. Tables
and JSON go through ``ranking.data.io`` (one format, one atomic writer). Only load pickles from
folders this program wrote (the app keeps them under an unguessable id; see pages/session/runs.py).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd

from ranking.data import formats
from ranking.data.dataset import Dataset
from ranking.errors import DataError

RANKINGS = "rankings.csv"
METRICS = "metrics.json"
CONFIG = "config.json"
MODELS = "models.pkl"
SNAPSHOT = "snapshot.pkl"
META = "meta.json"
FORMAT = 2  # 2: stage outputs of ranking.stages.contract, in the library laid out by role


SEEDS = "seeds.json"
CURVE = "curve.json"


def metrics_document(evaluation, timing_s: dict, config, seeds: dict | None = None) -> dict:
    """The JSON summary of a run: the evaluation's document, timings and the resolved config, plus the
    seed study's document (``ranking.study``) under "seeds" when one was run."""
    doc = {**evaluation.to_document(), "timing_s": dict(timing_s), "config": config.to_dict()}
    return doc if seeds is None else {**doc, "seeds": seeds}


def write_seed_study(folder: str | Path, study: dict, metrics: dict) -> Path:
    """Write seeds.json (the seed study) and metrics.json (the first seed's run, carrying the study)."""
    folder = Path(folder)
    folder.mkdir(exist_ok=True)
    formats.write_json(folder / SEEDS, study)
    formats.write_json(folder / METRICS, metrics)
    return folder


def write_curve(folder: str | Path, curve: dict) -> Path:
    """Write curve.json (the learning curve, ``ranking.curve``) into ``folder`` (created)."""
    folder = Path(folder)
    folder.mkdir(exist_ok=True)
    formats.write_json(folder / CURVE, curve)
    return folder


def write_run(folder: str | Path, *, rankings: pd.DataFrame, metrics: dict, config: dict, outputs: dict,
              dataset: Dataset, timing_s: dict, data_dir: str | Path | None = None) -> Path:
    """Write a run folder: the CSV and JSON files people read, and the pickled stage outputs."""
    folder = Path(folder)
    formats.write_csv(folder / RANKINGS, rankings)
    formats.write_json(folder / METRICS, metrics)
    formats.write_json(folder / CONFIG, config)
    where = None if data_dir is None else str(Path(data_dir).resolve())
    payload = {"format": FORMAT, "dataset": {"name": dataset.name, "fingerprint": dataset.fingerprint,
                                             "folder": where},
               "outputs": dict(outputs), "timing_s": dict(timing_s)}
    formats.write_bytes(folder / MODELS, pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
    return folder


def read_run(folder: str | Path) -> tuple[dict, dict]:
    """(config dict, payload) of a run folder written by ``write_run``; DataError if it is unusable."""
    folder = Path(folder)
    try:
        raw = formats.read_json(folder / CONFIG)
        with open(folder / MODELS, "rb") as fh:
            payload = pickle.load(fh)  # our own run folder (see the module docstring)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ModuleNotFoundError) as exc:
        raise DataError(f"{folder}: not a readable run folder ({type(exc).__name__}); train again") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else "unknown"
        raise DataError(f"{folder}: run format {found} is not {FORMAT}; train again")
    return raw, payload


def save_snapshot(folder: str | Path, payload: object, meta: dict) -> Path:
    """Pickle an app session's trained state with a small JSON description beside it (atomic)."""
    folder = Path(folder)
    formats.write_bytes(folder / SNAPSHOT, pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
    formats.write_json(folder / META, meta)
    return folder


def load_snapshot(folder: str | Path) -> tuple[object, dict]:
    """The payload and description written by ``save_snapshot``."""
    folder = Path(folder)
    meta = formats.read_json(folder / META)
    with open(folder / SNAPSHOT, "rb") as fh:
        payload = pickle.load(fh)  # only folders this program wrote, named by a validated id
    return payload, meta
