"""The validated tables a pipeline runs on, plus the ground truth when the world was generated."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from ranking.data import schema as S


class Truth(Protocol):
    """Each user's true value of every item (a generated world's ground truth).

    ``rows`` is all a caller may rely on: non-negative gains for NDCG. A generated world's truth
    (``ranking.data.truth``) also has ``signals(user_pos)`` (each signal's expectation) and
    ``gain(user_pos, label_config)`` (the expected compound score under any label weights);
    its ``rows`` is max(gain under the default label, 0).
    """

    def rows(self, user_pos: np.ndarray) -> np.ndarray:
        """float32 array (len(user_pos), n_items): rows follow ``Dataset.users``, columns ``Dataset.content``."""
        ...


@dataclass(frozen=True, eq=False)
class DenseTruth:
    """Truth held as a full users × items matrix (small worlds, or read from truth.csv)."""

    matrix: np.ndarray

    def rows(self, user_pos: np.ndarray) -> np.ndarray:
        return self.matrix[np.asarray(user_pos)]


@dataclass(frozen=True, eq=False)
class Dataset:
    """Users, content and interactions after validation.

    Row order is kept as loaded; a user's or item's *position* is its row number in
    ``users`` / ``content``. ``affinity`` maps a content topic to the user column that
    states the user's affinity for it (topics without a column are absent).
    """

    users: pd.DataFrame
    content: pd.DataFrame
    interactions: pd.DataFrame
    affinity: dict[str, str]
    name: str = "dataset"
    truth: Truth | None = None
    warnings: tuple[str, ...] = ()
    spec: dict | None = None  # how a generated world was made (for lesson links), else None
    recorded: tuple[str, ...] = S.OUTCOMES  # the post-impression signals the log really records (MIND: clicks)
    fingerprint: str = field(default="", compare=False)

    @property
    def topics(self) -> tuple[str, ...]:
        """Content topics in sorted order."""
        return tuple(sorted(map(str, self.content[S.TOPIC].unique())))

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.content)

    def summary(self) -> dict:
        """Counts per table and per low-cardinality column (what `validate --json` prints)."""

        def counts(col: pd.Series) -> dict[str, int]:
            vc = col.astype(str).value_counts()
            return {str(k): int(v) for k, v in sorted(vc.items())}

        return {
            "name": self.name,
            "users": {
                "rows": len(self.users),
                "region": counts(self.users[S.REGION]),
                "device_type": counts(self.users[S.DEVICE]),
                "affinity_columns": dict(sorted(self.affinity.items())),
            },
            "content": {
                "rows": len(self.content),
                "topic": counts(self.content[S.TOPIC]),
                "region_restriction": counts(self.content[S.RESTRICTION]),
                "publishers": int(self.content[S.PUBLISHER].nunique()),
            },
            "interactions": {"rows": len(self.interactions)},
            "has_truth": self.truth is not None,
            "warnings": list(self.warnings),
        }


def fingerprint_frames(*frames: pd.DataFrame) -> str:
    """A content hash of some frames, stable across processes (used as a cache key)."""
    h = hashlib.sha256()
    for df in frames:
        h.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
        h.update(",".join(map(str, df.columns)).encode())
    return h.hexdigest()[:16]
