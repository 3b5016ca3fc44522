"""Trained sessions saved under runs/<id>, so a refresh or a shared lesson link restores them.

Ids are random and unguessable (``secrets.token_urlsafe``) and validated before they touch the
file system: no path traversal, no listing. Disk use is bounded: past ``LAB_MAX_RUNS`` saved runs
(or past ``LAB_MAX_RUNS_MB`` of disk) the least recently used are deleted,
never one a page showed within the last hour. Files are written through ``ranking.data.store`` (one atomic writer).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ranking import data
from ranking.config import CandidateConfig, GBDTConfig, LabelConfig, NeuralConfig, SplitConfig
from ranking.data import store
from ranking.data.dataset import Dataset
from ranking.errors import RankingError
from ranking.names import STAGES
from ranking.stages.contract import StageOutput

from .datasets import ROOT, DataChoice
from .state import LabState, StageKey, Trained

LOG = logging.getLogger("lab.runs")

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{22,64}$")
UPLOAD_DIR = "upload"


def runs_dir() -> Path:
    """Where runs are kept: $LAB_RUNS_DIR, else runs/ in the project (git-ignored)."""
    return Path(os.environ.get("LAB_RUNS_DIR", ROOT / "runs"))


def max_runs() -> int:
    """How many saved runs to keep: $LAB_MAX_RUNS, default 50."""
    return int(os.environ.get("LAB_MAX_RUNS", "50"))


def max_bytes() -> int:
    """Disk budget of all saved runs together: $LAB_MAX_RUNS_MB, default 500 MB."""
    return int(float(os.environ.get("LAB_MAX_RUNS_MB", "500")) * 1024 * 1024)


IN_USE_S = 3600.0  # a run some page showed within this time is never pruned
_SHOWN: dict[str, float] = {}  # run id → when a page last showed it (this server)


def shown(run_id: str | None) -> None:
    """A page is showing this run: keep it (and count it as recently used)."""
    if run_id:
        _SHOWN[run_id] = time.time()


def touch(run_id: str) -> None:
    """Mark a run as just used (restored or shown), for least-recently-used pruning."""
    shown(run_id)
    with contextlib.suppress(ValueError, OSError):
        os.utime(_folder(run_id))


def valid_id(run_id: object) -> bool:
    """True for ids this module could have made (22+ URL-safe characters, nothing else)."""
    return isinstance(run_id, str) and bool(ID_PATTERN.fullmatch(run_id))


def _folder(run_id: str) -> Path:
    if not valid_id(run_id):
        raise ValueError("invalid run id")
    folder = (runs_dir() / run_id).resolve()
    if folder.parent != runs_dir().resolve():
        raise ValueError("invalid run id")
    return folder


class SaveFailed(RankingError):
    """A run could not be saved; the message says why in words, without the server's paths."""


@dataclass(frozen=True)
class SavedRun:
    """A saved run, decoded and checked: its trained stages, dataset key, description and upload."""

    stages: dict[str, Trained]
    data_key: str
    meta: dict
    upload: Dataset | None = None


def save(stages: dict[str, Trained], data_key: str, choice: DataChoice, upload: Dataset | None = None) -> str:
    """Save trained stages with what is needed to rebuild their dataset; returns the new run id.

    A failed save removes its folder, logs the cause with the traceback, and raises SaveFailed with
    a sentence for the page (no server path in it).
    """
    run_id = secrets.token_urlsafe(16)
    folder = _folder(run_id)
    payload = {"stages": {name: {"key": _key_fields(t.key), "output": t.output} for name, t in stages.items()},
               "data_key": data_key}
    meta = {"created": time.time(), "data_key": data_key, "source": choice.source,
            "generation": choice.generation(), "stages": sorted(stages)}
    try:
        if choice.source == "upload" and upload is not None:
            data.write_tables(folder / UPLOAD_DIR, upload.users, upload.content, upload.interactions)
        store.save_snapshot(folder, payload, meta)
    except Exception as exc:
        LOG.exception("could not save run %s", run_id)
        shutil.rmtree(folder, ignore_errors=True)
        raise SaveFailed(f"this run could not be saved ({_reason(exc)}), so links to it will not bring it "
                         "back; the trained stages stay usable in this tab") from None
    prune()
    return run_id


def _reason(exc: BaseException) -> str:
    """Why a save failed, in words and without paths (an OSError's own text names the file)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return type(exc).__name__


def _key_fields(key: StageKey) -> dict:
    return {f.name: getattr(key, f.name) for f in dataclasses.fields(StageKey)}


_KEY_TYPES = {"stage": str, "data_key": str, "seed": int, "labels": (LabelConfig, type(None)), "split": SplitConfig,
              "target": str, "stage1": (CandidateConfig, type(None)), "stage2": (GBDTConfig, type(None)),
              "stage3": (NeuralConfig, type(None))}


def decode(payload: object, meta: object) -> tuple[dict[str, Trained], str]:
    """The one place a saved session's stages are decoded: (stages, data key); ValueError with a
    sentence when anything is missing or of the wrong kind (an archive holds only the lab's own
    classes, but a foreign one may still hold them in the wrong places)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("stages"), dict):
        raise ValueError("the saved run holds no trained stages")
    data_key = payload.get("data_key")
    if not isinstance(data_key, str) or not isinstance(meta, dict):
        raise ValueError("the saved run does not say what data it was trained on")
    stages: dict[str, Trained] = {}
    for name in STAGES:  # in funnel order; a gap ends the chain
        entry = payload["stages"].get(name)
        if entry is None:
            break
        if not isinstance(entry, dict) or not isinstance(entry.get("output"), StageOutput):
            raise ValueError(f"the saved run's {name} is not a trained stage")
        fields = entry.get("key")
        if not isinstance(fields, dict) or set(fields) != set(_KEY_TYPES) or not all(
                isinstance(fields[f], t) for f, t in _KEY_TYPES.items()):
            raise ValueError(f"the saved run's {name} does not record its settings")
        key = StageKey(**fields)
        if key.stage != name or key.data_key != data_key or entry["output"].name != name:
            raise ValueError(f"the saved run's {name} is recorded under another stage or dataset")
        stages[name] = Trained(key, entry["output"])
    if not stages or set(payload["stages"]) - set(stages):
        raise ValueError("the saved run's stages are incomplete")
    return stages, data_key


def load(run_id: str) -> SavedRun:
    """A saved run, decoded and checked; ValueError/RankingError (with a sentence) if unusable."""
    folder = _folder(run_id)
    if not folder.is_dir():
        raise ValueError("no such run")
    payload, meta = store.load_snapshot(folder, "the saved run")
    stages, data_key = decode(payload, meta)
    upload = None
    if (folder / UPLOAD_DIR).is_dir():
        upload = data.load_dataset(folder / UPLOAD_DIR, name="your upload")
    return SavedRun(stages, data_key, meta, upload)


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def prune(keep: int | None = None, budget: int | None = None, now: float | None = None) -> int:
    """Delete least recently used runs beyond ``keep`` runs or ``budget`` bytes; returns how many went.

    Runs a page showed within the last hour are never deleted, whatever the limits.
    """
    keep = max_runs() if keep is None else keep
    budget = max_bytes() if budget is None else budget
    now = time.time() if now is None else now
    if not runs_dir().is_dir():
        return 0
    found = [p for p in runs_dir().iterdir() if p.is_dir() and valid_id(p.name)]
    found.sort(key=lambda p: p.stat().st_mtime, reverse=True)  # most recently used first
    total, kept, gone = 0, 0, 0
    for folder in found:
        size = _size(folder)
        in_use = now - _SHOWN.get(folder.name, -1e18) < IN_USE_S
        if in_use or (kept < keep and total + size <= budget):
            total, kept = total + size, kept + 1
            continue
        shutil.rmtree(folder, ignore_errors=True)
        gone += 1
    return gone


def restore(lab: LabState, run_id: str) -> tuple[str | None, dict]:
    """Put a saved run's stages (and its upload) into this session.

    Returns (a message for the page, or None when restored; the run's description: its data source
    and generation spec, so the page can select the dataset the run was trained on).
    """
    try:
        saved = load(run_id)
    except (ValueError, OSError, RankingError) as exc:
        LOG.info("run link %s not restored: %s", run_id, exc)
        return "That run link is not valid or the run has been deleted; train again to create a new one.", {}
    stages, meta, upload = saved.stages, saved.meta, saved.upload
    if upload is not None:
        lab.upload = upload
        lab.upload_names = ("(restored from the run link)",)
    elif meta.get("source") == "upload":
        return "That run was trained on an upload that was not kept with it; upload the files again.", {}
    lab.stages = stages
    lab.run_id = run_id
    touch(run_id)
    return None, meta
