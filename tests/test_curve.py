"""The learning curve: the subsample keeps held-out rows and what users saw, the crossover and its sentence on a
hand-made curve, and the CLI's `curve` end to end on a small world."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from ranking import cli, curve
from ranking.config import LabelConfig, SplitConfig
from ranking.data import synth
from ranking.prep.split import prepare


@pytest.fixture(scope="module")
def prep():
    world = synth.generate(synth.WorldSpec(n_users=80, n_items=40, n_interactions=2400, seed=5)).to_dataset()
    return prepare(world, LabelConfig(), SplitConfig(), seed=0)


def test_a_share_keeps_every_held_out_row_and_what_users_saw(prep):
    part = curve.subsample(prep, 0.25, seed=3)
    assert len(part.train) == round(0.25 * len(prep.train))
    assert part.test.equals(prep.test)
    assert part.seen is prep.seen  # a row left out was still shown: its item stays ineligible
    assert set(part.train.index) <= set(prep.train.index)
    again = curve.subsample(prep, 0.25, seed=3)
    assert again.train.index.equals(part.train.index)  # seeded
    assert not curve.subsample(prep, 0.25, seed=4).train.index.equals(part.train.index)
    assert curve.subsample(prep, 1.0, seed=3) is prep
    with pytest.raises(ValueError, match="share"):
        curve.subsample(prep, 0.0, seed=3)


def _curve(final, glm):
    shares = (0.1, 0.5, 1.0)
    values = {s: {seed: {"final": final[j] + 0.01 * seed, "glm": glm[j], "random": 0.3} for seed in (0, 1)}
              for j, s in enumerate(shares)}
    return curve.LearningCurve("oracle_ndcg@10", shares, (0, 1), values)


def test_crossover_is_the_first_share_where_the_learned_list_reaches_the_best_transparent_baseline():
    c = _curve(final=[0.50, 0.66, 0.70], glm=[0.60, 0.65, 0.66])
    mean, lo, hi = c.band("final")
    np.testing.assert_allclose(mean, [0.505, 0.665, 0.705])
    np.testing.assert_allclose(hi - lo, [0.01] * 3)
    assert c.crossover() == 0.5
    assert "from 50% of the training log on" in c.sentence()
    never = _curve(final=[0.50, 0.60, 0.62], glm=[0.60, 0.65, 0.66])
    assert never.crossover() is None
    assert "does not stay at or above the best transparent baseline" in never.sentence()
    assert json.dumps(never.to_document(), allow_nan=True)
    # above at 50 % but below again at 100 %: no crossover "from 50 % on"
    back = _curve(final=[0.50, 0.70, 0.62], glm=[0.60, 0.65, 0.66])
    assert back.crossover() is None
    # a gap smaller than the final feed's spread over seeds is no winner
    tie = _curve(final=[0.50, 0.60, 0.655], glm=[0.60, 0.65, 0.66])
    assert "within the spread of training seeds" in tie.sentence()


def test_cli_curve_prints_every_list_per_share_and_writes_curve_json(tmp_path):
    world = tmp_path / "w"
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(["synth", "--out", str(world), "--users", "80", "--items", "40", "--interactions", "2400",
                         "--seed", "5"]) == 0
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"stage3": {"epochs": 2}}))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(["curve", "--data", str(world), "--seeds", "1", "--config", str(cfg), "--out",
                       str(tmp_path / "c"), "--quiet"])
    assert rc == 0, err.getvalue()
    text = out.getvalue()
    for row in ("Final", "Per-signal GLM", "Freshness heuristic"):
        assert any(line.startswith(row) for line in text.splitlines()), row
    assert "10% (" in text
    assert "100% (" in text
    doc = json.loads((tmp_path / "c" / "curve.json").read_text())
    assert doc["shares"] == [0.1, 0.25, 0.5, 1.0]
    assert set(doc["values"]["1.0"]["42"]) >= {"stage1", "stage2", "stage3", "final", "glm", "random"}
    assert doc["sentence"] in text
    assert not any(prep_rows == 0 for prep_rows in doc["train_rows"].values())
