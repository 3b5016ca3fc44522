"""ranking.study and `python -m ranking seeds`: one split, every stage retrained per training seed.

Expected numbers come from the pipeline's own single runs (the first seed reproduces `pipeline.run`)
and from each seed's evaluation (an effect is the difference of the two lists' per-user means).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json

import numpy as np
import pytest
from conftest import SMALL_WORLD

from ranking import cli, pipeline, study
from ranking.config import NeuralConfig, PipelineConfig
from ranking.data import synth

FAST = PipelineConfig(stage3=NeuralConfig(epochs=3))  # the trained_small fixture's settings


@pytest.fixture(scope="module")
def small_dataset():
    return synth.generate(synth.WorldSpec(**SMALL_WORLD)).to_dataset()


@pytest.fixture(scope="module")
def recorded(small_dataset):
    """A two-seed study whose trainer records what each seed was trained on."""
    calls = []

    def train(prep, config, progress):
        calls.append((prep, config))
        return pipeline.train(prep, config, progress=progress)

    prep = pipeline.prepare_data(small_dataset, FAST)
    steps = []
    result = study.seed_study(prep, FAST, study.training_seeds(FAST, 2), train=train,
                              progress=lambda *a: steps.append(a[1]))
    return result, calls, prep, steps


def test_training_seeds_start_at_the_configs_seed():
    assert study.training_seeds(PipelineConfig(seed=5)) == (5, 6, 7)
    with pytest.raises(ValueError, match="at least 1"):
        study.training_seeds(PipelineConfig(), 0)


def test_the_split_is_prepared_once_and_only_the_training_seed_changes(recorded):
    _result, calls, prep, steps = recorded
    assert [c.seed for _, c in calls] == [42, 43]
    assert all(p is prep for p, _ in calls)  # one labelled split for every seed
    assert all(dataclasses.replace(c, seed=FAST.seed) == FAST for _, c in calls)
    assert steps == sorted(steps)
    assert steps[-1] == pytest.approx(1.0)


def test_the_first_seed_reproduces_the_ordinary_run(recorded, trained_small):
    result, *_ = recorded
    ev, ref = result.evaluations[42], trained_small.evaluation
    for name in ("stage1", "stage2"):
        assert ev.headline(name) == pytest.approx(ref.headline(name), abs=1e-9), name
    assert ev.headline("stage3") == pytest.approx(ref.headline("stage3"), abs=5e-3)


def test_effects_are_per_seed_differences_of_the_basis_metric(recorded):
    result, *_ = recorded
    names = [c.name for c in result.comparisons]
    assert names[:3] == ["stage1→stage2", "stage2→stage3", "stage3→final"]
    assert names[3:] == [f"{b}→final" for b in ("popularity", "smoothed_ctr", "heuristic", "freshness", "glm",
                                                 "logreg")]
    for c in result.comparisons[:3]:
        for seed, effect, p in zip(c.seeds, c.effects, c.p_values, strict=True):
            ev = result.evaluations[seed]
            a, b = ev.per_user[c.a][ev.basis], ev.per_user[c.b][ev.basis]
            both = ~(np.isnan(a) | np.isnan(b))
            assert effect == pytest.approx(float(np.mean(b[both] - a[both])))
            # the single-run transition test over users is the per-seed p
            assert p == pytest.approx(ev.transitions[c.name]["wilcoxon_p"], nan_ok=True)
    doc = json.loads(json.dumps(result.to_document(), default=float))
    assert doc["seeds"] == [42, 43]
    assert doc["basis"] == "oracle_ndcg@10"
    assert {c["verdict"] for c in doc["comparisons"]} <= {"b_beats_a", "a_beats_b", "not_distinguishable"}


def test_trained_stages_are_reused_for_their_seed(recorded, small_dataset):
    _result, _calls, prep, _ = recorded
    seen = []
    again = study.seed_study(prep, FAST, (42,), train=lambda *a: seen.append(a) or {},
                             trained={42: trained_outputs(prep)})
    assert not seen
    assert again.seeds == (42,)
    assert all(c.verdict == "not_distinguishable" for c in again.comparisons)


def trained_outputs(prep):
    return pipeline.train(prep, dataclasses.replace(FAST, stage3=NeuralConfig(epochs=1)))


def test_cli_seeds_prints_a_table_and_writes_seeds_json(tmp_path):
    world = tmp_path / "w"
    cfg = tmp_path / "fast.json"
    cfg.write_text(json.dumps({"stage2": {"n_estimators": 30}, "stage3": {"epochs": 1}}))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert cli.main(["synth", "--out", str(world), "--users", "200", "--items", "100",
                         "--interactions", "4000", "--seed", "1"]) == 0
        out.truncate(0)
        rc = cli.main(["seeds", "--data", str(world), "--seeds", "2", "--config", str(cfg),
                       "--out", str(tmp_path / "study"), "--quiet"])
    assert rc == 0, err.getvalue()
    text = out.getvalue()
    for row in ("Stage 1 → Stage 2", "Stage 2 → Stage 3", "Stage 3 → Final"):
        assert any(line.startswith(row) for line in text.splitlines()), row
    assert "seed 42" in text
    assert "seed 43" in text
    assert "Verdict rule" in text
    assert "nan" not in text.lower()
    seeds = json.loads((tmp_path / "study" / "seeds.json").read_text())
    metrics = json.loads((tmp_path / "study" / "metrics.json").read_text())
    assert seeds["seeds"] == [42, 43]
    assert len(seeds["comparisons"]) == 9  # 3 steps + each of the 6 baselines against the final feed
    assert seeds["best_baseline"]["name"] in {"popularity", "smoothed_ctr", "heuristic", "freshness", "glm", "logreg"}
    assert metrics["seeds"]["comparisons"] == seeds["comparisons"]
    assert metrics["config"]["seed"] == 42
    assert set(metrics["stages"]) == {"stage1", "stage2", "stage3", "final"}
    first = seeds["comparisons"][0]
    assert first["effects"][0] == pytest.approx(metrics["stages"]["stage2"]["oracle_ndcg@10"]
                                                - metrics["stages"]["stage1"]["oracle_ndcg@10"], abs=1e-6)


def test_cli_seeds_refuses_bad_counts(tmp_path):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit):
        cli.main(["seeds", "--data", str(tmp_path), "--seeds", "0"])
    assert "--seeds" in err.getvalue()
