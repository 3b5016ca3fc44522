"""Saved runs on disk: rankings.csv, metrics.json, config.json and the stage outputs (stages.npz).

Where it sits: the file side of ``ranking.pipeline.save_run`` / ``load_run`` (which own what a run
*is*); this module owns only the layout of a run folder and the app's session snapshots. Tables
and JSON go through ``ranking.data.io`` (one format, one atomic writer). Trained state goes
through ``ranking.data.archive``: JSON plus arrays plus XGBoost's own model format, never a
pickle, so a run folder someone else wrote cannot run code when it is opened. Folders of older
versions (``models.pkl``, ``snapshot.pkl``) are refused with a sentence, never unpickled.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ranking.data import archive, formats
from ranking.data.archive import ArchiveError
from ranking.data.dataset import Dataset
from ranking.errors import DataError

RANKINGS = "rankings.csv"
METRICS = "metrics.json"
CONFIG = "config.json"
MODELS = "stages.npz"
SNAPSHOT = "snapshot.npz"
META = "meta.json"
FORMAT = 3  # 3: stage outputs of ranking.stages.contract in a ranking.data.archive (2: pickled, refused)
_PICKLED = ("models.pkl", "snapshot.pkl")  # what versions before format 3 wrote


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
    """Write a run folder: the CSV and JSON files people read, and the stage outputs' archive."""
    folder = Path(folder)
    formats.write_csv(folder / RANKINGS, rankings)
    formats.write_json(folder / METRICS, metrics)
    formats.write_json(folder / CONFIG, config)
    where = None if data_dir is None else str(Path(data_dir).resolve())
    payload = {"format": FORMAT, "dataset": {"name": dataset.name, "fingerprint": dataset.fingerprint,
                                             "folder": where},
               "outputs": dict(outputs), "timing_s": dict(timing_s)}
    formats.write_bytes(folder / MODELS, archive.dumps(payload))
    return folder


def _older(folder: Path, name: str) -> DataError:
    if any((folder / old).is_file() for old in _PICKLED):
        return DataError(f"{name} was saved by an older version of the lab as a pickle, which is not opened "
                         "because a pickle can run code; train again")
    return DataError(f"{name} has no saved stages; train again")


def _read_object(path: Path, what: str) -> dict:
    """A JSON object file of a saved run; DataError "<what> is not readable / not a settings object"."""
    try:
        found = formats.read_json(path)
    except (OSError, ValueError, DataError) as exc:
        raise DataError(f"{what} is not readable ({type(exc).__name__}); train again") from None
    if not isinstance(found, dict):
        raise DataError(f"{what} is not a settings object; train again")
    return found


def _read_archive(path: Path, name: str) -> object:
    try:
        return archive.loads(path.read_bytes())
    except OSError as exc:
        raise DataError(f"{name} cannot be read ({type(exc).__name__}); train again") from None
    except ArchiveError as exc:
        raise DataError(f"{name} is not a run this version of the lab can open: {exc}; train again") from None


def read_run(folder: str | Path) -> tuple[dict, dict]:
    """(config dict, payload) of a run folder written by ``write_run``; DataError if it is unusable."""
    folder = Path(folder)
    if not (folder / MODELS).is_file():
        raise _older(folder, str(folder))
    raw = _read_object(folder / CONFIG, f"{folder}: its {CONFIG}")
    payload = _read_archive(folder / MODELS, str(folder))
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else "unknown"
        raise DataError(f"{folder}: run format {found} is not {FORMAT}; train again")
    if not isinstance(payload.get("outputs"), dict) or not isinstance(payload.get("dataset"), dict):
        raise DataError(f"{folder}: the saved stages are incomplete; train again")
    return raw, payload


def save_snapshot(folder: str | Path, payload: object, meta: dict) -> Path:
    """Archive an app session's trained state with a small JSON description beside it (atomic)."""
    folder = Path(folder)
    formats.write_bytes(folder / SNAPSHOT, archive.dumps({"format": FORMAT, "payload": payload}))
    formats.write_json(folder / META, meta)
    return folder


def load_snapshot(folder: str | Path, name: str = "the saved run") -> tuple[object, dict]:
    """The payload and description written by ``save_snapshot``; DataError (one sentence, naming the
    run as ``name``, never the server's path) when either is missing, foreign, older or damaged."""
    folder = Path(folder)
    if not (folder / SNAPSHOT).is_file():
        raise _older(folder, name)
    meta = _read_object(folder / META, f"{name}'s description")
    doc = _read_archive(folder / SNAPSHOT, name)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise DataError(f"{name} was saved in another format; train again")
    return doc.get("payload"), meta
