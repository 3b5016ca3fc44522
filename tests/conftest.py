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


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A fresh `streamlit run app.py` per browser-test module; saved runs go to a temporary folder."""
    from browser_util import require_browser, streamlit_server

    require_browser()
    # no start-up training of the sample world: these tests expect an untrained lab (test_browser_tour has one)
    with streamlit_server(env={"LAB_RUNS_DIR": str(tmp_path_factory.mktemp("runs")), "LAB_TRAIN_ON_START": "0"}) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium, one per browser-test module."""
    from browser_util import chromium, require_browser

    require_browser()
    with chromium() as b:
        yield b


SMALL_WORLD = {"n_users": 300, "n_items": 120, "n_interactions": 6000, "seed": 0}  # the app's TINY world


@pytest.fixture(scope="session")
def trained_small():
    """One full ``ranking.pipeline.run`` on the small world, shared by tests that only read its results.

    Same world and settings as the app's TINY query parameters (300 users, 120 items, 6000
    interactions, seed 0; stage 3 with 3 epochs; everything else default), so UI-equivalence tests
    can compare against it. Treat it as read-only.
    """
    from ranking import pipeline
    from ranking.config import NeuralConfig, PipelineConfig
    from ranking.data import synth

    dataset = synth.generate(synth.WorldSpec(**SMALL_WORLD)).to_dataset()
    return pipeline.run(dataset, PipelineConfig(stage3=NeuralConfig(epochs=3)))
