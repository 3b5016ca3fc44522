"""Shared fixtures: the seed tables (read in place from ../shared) and small generated worlds."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEED_DIR = ROOT.parent / "shared" / "seed-data"


@pytest.fixture(scope="session")
def seed_dir() -> Path:
    if not SEED_DIR.is_dir():
        pytest.skip("../shared/seed-data is not present beside the checkout")
    return SEED_DIR
