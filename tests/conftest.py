"""Shared fixtures: seed-like tables generated in code, the real seed tables when present, small worlds.

``seed_dir`` is always available (tests/seedlike.py writes it), so the suite runs without
../shared. Tests of numbers that only hold on the notebook's real data use ``real_seed_dir``,
which skips when ``$LAB_SEED_DIR`` (default ../shared/seed-data) is not a folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import seedlike

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def seed_dir(tmp_path_factory) -> Path:
    """The seed-like tables (same schema and traps as the seed), written once per session."""
    return seedlike.write(tmp_path_factory.mktemp("seedlike") / "seed-data")


@pytest.fixture(scope="session")
def real_seed_dir() -> Path:
    """The notebook's real seed tables; skips when they are not beside the checkout."""
    path = seedlike.real_seed_dir()
    if not path.is_dir():
        pytest.skip(f"real seed tables not found at {path} (set LAB_SEED_DIR or put ../shared beside the checkout)")
    return path
