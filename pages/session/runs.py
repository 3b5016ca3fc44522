"""Trained sessions saved under runs/<id>, so a refresh or a shared lesson link restores them.

Ids are random and unguessable (``secrets.token_urlsafe``) and validated before they touch the
file system: no path traversal, no listing. Disk use is bounded: past ``LAB_MAX_RUNS`` saved runs
the oldest are deleted. Files are written through ``ranking.data.store`` (one atomic writer).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
from pathlib import Path

from ranking import data
from ranking.data import store
from ranking.errors import RankingError

from .datasets import ROOT, DataChoice
from .state import LabState, Trained

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{22,64}$")
UPLOAD_DIR = "upload"


def runs_dir() -> Path:
    """Where runs are kept: $LAB_RUNS_DIR, else runs/ in the project (git-ignored)."""
    return Path(os.environ.get("LAB_RUNS_DIR", ROOT / "runs"))


def max_runs() -> int:
    """How many saved runs to keep: $LAB_MAX_RUNS, default 50."""
    return int(os.environ.get("LAB_MAX_RUNS", "50"))


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


def save(lab: LabState, data_key: str, choice: DataChoice) -> str:
    """Save this session's trained stages; returns the new run id."""
    run_id = secrets.token_urlsafe(16)
    folder = _folder(run_id)
    payload = {"stages": {name: (t.key, t.output) for name, t in lab.stages.items()}, "data_key": data_key}
    meta = {"created": time.time(), "data_key": data_key, "source": choice.source,
            "generation": choice.generation(), "stages": sorted(lab.stages)}
    if choice.source == "upload" and lab.upload is not None:
        up = lab.upload
        data.write_tables(folder / UPLOAD_DIR, up.users, up.content, up.interactions)
    store.save_snapshot(folder, payload, meta)
    prune()
    return run_id


def load(run_id: str) -> tuple[dict, dict, object | None]:
    """(payload, meta, uploaded Dataset or None) of a saved run; ValueError/RankingError if unusable."""
    folder = _folder(run_id)
    if not (folder / store.SNAPSHOT).is_file():
        raise ValueError("no such run")
    payload, meta = store.load_snapshot(folder)
    upload = None
    if (folder / UPLOAD_DIR).is_dir():
        upload = data.load_dataset(folder / UPLOAD_DIR, name="your upload")
    return payload, meta, upload


def prune(keep: int | None = None) -> int:
    """Delete the oldest saved runs beyond ``keep`` (default LAB_MAX_RUNS); returns how many went."""
    keep = max_runs() if keep is None else keep
    if not runs_dir().is_dir():
        return 0
    found = [p for p in runs_dir().iterdir() if p.is_dir() and valid_id(p.name)]
    found.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in found[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    return max(0, len(found) - keep)


def restore(lab: LabState, run_id: str) -> str | None:
    """Put a saved run's stages into this session; returns a message for the page (None if restored)."""
    try:
        payload, _meta, upload = load(run_id)
        stages = {name: Trained(key, output) for name, (key, output) in payload["stages"].items()}
    except (ValueError, OSError, RankingError, EOFError, KeyError, TypeError, AttributeError,
            ModuleNotFoundError):
        return "That run link is not valid or the run has been deleted; train again to create a new one."
    if upload is not None:
        lab.upload = upload
        lab.upload_names = ("(restored from the run link)",)
    lab.stages = stages
    lab.run_id = run_id
    return None
