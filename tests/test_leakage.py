"""Leakage guard: the held-out interactions' outcomes must not reach any ranking.

The split is per user by event time (ranking.prep.split), so it can be reproduced on the
original data; shuffling the outcome columns among the held-out rows leaves every timestamp, and
so the split, unchanged. If any stage read a held-out click, share or hide, some list would change.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from ranking import data, pipeline
from ranking.config import GBDTConfig, NeuralConfig, PipelineConfig
from ranking.data import synth
from ranking.prep.split import IS_TEST, prepare

OUTCOMES = ["click", "dwell_time", "share", "comment", "hide"]
CONFIG = PipelineConfig(stage2=GBDTConfig(n_estimators=30), stage3=NeuralConfig(epochs=2))
STAGES = ("stage1", "stage2", "stage3", "final")


@pytest.fixture(scope="module")
def world() -> data.Dataset:
    return synth.generate(synth.WorldSpec(n_users=80, n_items=40, n_interactions=1200, seed=4)).to_dataset()


@pytest.fixture(scope="module")
def original(world):
    return pipeline.run(world, CONFIG)


def _held_out(dataset: data.Dataset) -> np.ndarray:
    return prepare(dataset, CONFIG.labels, CONFIG.split, CONFIG.seed).interactions[IS_TEST].to_numpy()


def _permuted(world: data.Dataset, rows: np.ndarray, seed: int = 0) -> data.Dataset:
    """The world with the outcome columns of ``rows`` shuffled among those rows (whole outcome rows move)."""
    inter = world.interactions.copy()
    perm = np.random.default_rng(seed).permutation(len(rows))
    inter.loc[rows, OUTCOMES] = inter.loc[rows[perm], OUTCOMES].to_numpy()
    return data.from_frames(world.users, world.content, inter, name=world.name, truth=world.truth, spec=world.spec)


def _rankings_bytes(result) -> bytes:
    buf = io.StringIO()
    result.rankings_frame().to_csv(buf, index=False, float_format="%.9g")
    return buf.getvalue().encode()


def _same_lists(a, b) -> dict[str, bool]:
    la, lb = a.lists(), b.lists()
    return {s: la[s].items.tobytes() == lb[s].items.tobytes() and la[s].scores.tobytes() == lb[s].scores.tobytes()
            for s in STAGES}


def test_permuting_held_out_outcomes_changes_no_ranking(world, original):
    held = _held_out(world)
    rows = np.flatnonzero(held)
    assert 0 < len(rows) < len(held)
    permuted = _permuted(world, rows)
    np.testing.assert_array_equal(_held_out(permuted), held)  # same split: timestamps did not move
    before = prepare(world, CONFIG.labels, CONFIG.split, CONFIG.seed).interactions
    after = prepare(permuted, CONFIG.labels, CONFIG.split, CONFIG.seed).interactions
    assert (before.loc[held, "label"].to_numpy() != after.loc[held, "label"].to_numpy()).sum() > 10  # labels moved
    assert before.loc[~held, OUTCOMES].equals(after.loc[~held, OUTCOMES])  # training rows untouched

    again = pipeline.run(permuted, CONFIG)
    assert _same_lists(original, again) == dict.fromkeys(STAGES, True)
    assert _rankings_bytes(again) == _rankings_bytes(original)


def test_the_guard_can_fail_permuting_training_outcomes_changes_rankings(world, original):
    """Control: the same shuffle among *training* rows must change the learned stages' lists."""
    held = _held_out(world)
    train_rows = np.flatnonzero(~held)
    changed = pipeline.run(_permuted(world, train_rows), CONFIG)
    same = _same_lists(original, changed)
    assert not same["stage2"]
    assert not same["stage3"]
    assert _rankings_bytes(changed) != _rankings_bytes(original)
