"""Which dataset a session works on: the bundled sample world, a generated world or an upload.

Datasets are immutable, so the sample and generated worlds are cached per process and shared by
every session (keyed by folder and modification time, or by the generation spec: ``generation``); uploads
belong to one session (``LabState.upload``). The key returned with a dataset names it in every
stage's key, so a trained stage is stale the moment the data changes.
"""

from __future__ import annotations

import functools
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ranking.data import load_dataset
from ranking.data.dataset import Dataset

from . import generation

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DIR = Path(os.environ.get("LAB_SAMPLE_DIR", ROOT / "data" / "sample"))
Source = Literal["sample", "world", "upload"]
SOURCES: dict[str, str] = {"sample": "Bundled sample world", "world": "Generate a world", "upload": "Upload three CSVs"}
# Generated worlds the UI offers stay small enough to train in well under a minute.
GEN_DEFAULTS = {"g_users": 1000, "g_items": 300, "g_inter": 20_000, "g_seed": 0}
GEN_LIMITS = {"g_users": (10, 20_000), "g_items": (10, 5_000), "g_inter": (10, 400_000), "g_seed": (0, 10**9)}


@dataclass(frozen=True)
class DataChoice:
    """The dataset a session asked for: its source and, for a generated world, the spec's four numbers."""

    source: Source = "sample"
    g_users: int = GEN_DEFAULTS["g_users"]
    g_items: int = GEN_DEFAULTS["g_items"]
    g_inter: int = GEN_DEFAULTS["g_inter"]
    g_seed: int = GEN_DEFAULTS["g_seed"]

    @classmethod
    def parse(cls, source: object, generation: dict[str, object]) -> DataChoice:
        """From raw URL or widget values: unknown sources fall back to the sample, numbers are clamped."""
        src = source if source in SOURCES else {v: k for k, v in SOURCES.items()}.get(source, "sample")
        numbers = {}
        for key, default in GEN_DEFAULTS.items():
            try:
                value = int(float(generation.get(key, default)))
            except (TypeError, ValueError, OverflowError):
                value = default
            lo, hi = GEN_LIMITS[key]
            numbers[key] = max(lo, min(value, hi))
        return cls(src, **numbers)

    def generation(self) -> dict[str, int]:
        """The four generation numbers, keyed like their widgets and URL parameters."""
        return {"g_users": self.g_users, "g_items": self.g_items, "g_inter": self.g_inter, "g_seed": self.g_seed}


def world_key(choice: DataChoice) -> generation.Key:
    """The generation spec of a world choice (the key of its shared generation)."""
    return choice.g_users, choice.g_items, choice.g_inter, choice.g_seed


def data_key(choice: DataChoice) -> str:
    """The key naming a generated world in every stage's key."""
    return f"world:{choice.g_users}x{choice.g_items}x{choice.g_inter}:seed{choice.g_seed}"


def resolve(choice: DataChoice, upload: Dataset | None = None) -> tuple[Dataset, str]:
    """The dataset for a choice and the key naming it; an upload not yet made falls back to the sample.

    A generated world is waited for (pages instead watch its ``generation`` with progress and Cancel).
    """
    if choice.source == "upload" and upload is not None:
        return upload, f"upload:{upload.fingerprint}"
    if choice.source == "world":
        return generation.wait(world_key(choice)), data_key(choice)
    return sample_dataset()


def sample_dataset() -> tuple[Dataset, str]:
    """The bundled sample world and its key."""
    mtime = max((p.stat().st_mtime for p in SAMPLE_DIR.glob("*")), default=0.0)
    return sample(str(SAMPLE_DIR), mtime), "sample"


def _one_at_a_time(cached):
    """Calls of a cached loader with the same arguments wait for the first instead of each loading: a class
    opening the lab at once made ten sessions load (or generate) the same dataset in parallel."""
    guard, locks = threading.Lock(), {}

    @functools.wraps(cached)
    def load(*args):
        with guard:
            lock = locks.setdefault(args, threading.Lock())
        with lock:
            return cached(*args)

    return load


@_one_at_a_time
@functools.lru_cache(maxsize=2)
def sample(path: str, mtime: float) -> Dataset:
    """The bundled sample world (cached until its files change)."""
    return load_dataset(path, name="sample world")
