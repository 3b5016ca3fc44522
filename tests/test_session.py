"""The widget-free session model (pages/session): staleness rules, training plans, jobs and saved runs,
driven directly, without Streamlit."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from pages.session import jobs, runs
from pages.session.datasets import DataChoice, resolve
from pages.session.state import LabState, Trained, stage_keys
from ranking import pipeline
from ranking.config import GBDTConfig, LabelConfig, NeuralConfig, PipelineConfig, PostConfig
from ranking.prep.lists import RankedLists
from ranking.stages.contract import StageOutput

WORLD = DataChoice.parse("world", {"g_users": 150, "g_items": 60, "g_inter": 3000, "g_seed": 2})
FAST = PipelineConfig(stage2=GBDTConfig(n_estimators=20), stage3=NeuralConfig(epochs=2))


def _fake(name: str) -> StageOutput:
    return StageOutput(name, model=None, lists=RankedLists(np.zeros((1, 1), np.int32), np.zeros((1, 1), np.float32)),
                       seconds=0.0)


def _lab_trained_with(cfg: PipelineConfig, key: str = "k") -> LabState:
    lab = LabState()
    keys = stage_keys(cfg, key)
    lab.stages = {s: Trained(keys[s], _fake(s)) for s in ("stage1", "stage2", "stage3")}
    return lab


# ---------------------------------------------------------------- staleness rules

def test_nothing_trained_is_missing_and_a_click_trains_up_to_the_target():
    lab, cfg = LabState(), PipelineConfig()
    assert [lab.status(s, cfg, "k") for s in ("stage1", "stage2", "stage3")] == ["missing"] * 3
    assert lab.plan("stage3", cfg, "k") == ["stage1", "stage2", "stage3"]
    assert lab.plan("stage1", cfg, "k") == ["stage1"]
    assert lab.fresh_outputs(cfg, "k") == {}


@pytest.mark.parametrize(("change", "stale"), [
    ({"seed": 7}, ["stage1", "stage2", "stage3"]),
    ({"labels": LabelConfig(threshold=1.5)}, []),  # the value model learns signals: labels re-rank live
    ({"labels": LabelConfig(w_share=4.0)}, []),
    ({"target": "label"}, ["stage1", "stage2", "stage3"]),
    ({"stage1": dataclasses.replace(PipelineConfig().stage1, k=33)}, ["stage1", "stage2", "stage3"]),
    ({"stage2": GBDTConfig(max_depth=4)}, ["stage2", "stage3"]),
    ({"stage3": NeuralConfig(dropout=0.3)}, ["stage3"]),
    ({"post": PostConfig(m=7)}, []),  # post-processing and metrics are recomputed, never trained
])
def test_a_setting_makes_its_stage_and_every_later_one_stale(change, stale):
    cfg = PipelineConfig()
    lab = _lab_trained_with(cfg)
    now = dataclasses.replace(cfg, **change)
    got = [s for s in ("stage1", "stage2", "stage3") if lab.status(s, now, "k") == "stale"]
    assert got == stale
    fresh = [s for s in ("stage1", "stage2", "stage3") if s not in stale]
    assert list(lab.fresh_outputs(now, "k")) == fresh
    # retraining the last stage retrains from the first stale one
    assert lab.plan("stage3", now, "k") == (stale or ["stage3"])


def test_in_label_mode_a_label_change_makes_every_stage_stale():
    cfg = PipelineConfig(target="label")
    lab = _lab_trained_with(cfg)
    now = dataclasses.replace(cfg, labels=LabelConfig(w_share=4.0))
    assert [lab.status(s, now, "k") for s in ("stage1", "stage2", "stage3")] == ["stale"] * 3


def test_other_data_makes_every_stage_stale():
    cfg = PipelineConfig()
    lab = _lab_trained_with(cfg, key="sample")
    assert {lab.status(s, cfg, "world:1x1x1:seed0") for s in ("stage1", "stage2", "stage3")} == {"stale"}


def test_fresh_outputs_stop_at_the_first_gap():
    cfg = PipelineConfig()
    lab = _lab_trained_with(cfg)
    del lab.stages["stage2"]
    assert list(lab.fresh_outputs(cfg, "k")) == ["stage1"]  # stage 3 is trained but has no fresh upstream


# ---------------------------------------------------------------- datasets

def test_data_choice_parses_urls_and_clamps_numbers():
    assert DataChoice.parse("nonsense", {}).source == "sample"
    assert DataChoice.parse("Generate a world", {}).source == "world"  # a radio label in the URL
    big = DataChoice.parse("world", {"g_users": "10e9", "g_items": "-4", "g_inter": "abc", "g_seed": "3"})
    assert (big.g_users, big.g_items, big.g_inter, big.g_seed) == (20_000, 10, 20_000, 3)


def test_resolve_names_the_data_in_every_stage_key():
    ds, key = resolve(WORLD)
    assert key == "world:150x60x3000:seed2"
    assert resolve(WORLD)[0] is ds  # generated once per process, shared: datasets are immutable
    assert resolve(DataChoice("upload"))[1] == "sample"  # no upload yet: the sample world, said by its key


def test_a_weight_move_relabels_the_prepared_data_and_a_split_change_prepares_it_again():
    """A session's prepared data follows the settings; a weight move (every slider of a class, on every
    page that shows the label) relabels it instead of splitting and indexing the log again."""
    ds, key = resolve(WORLD)
    lab, cfg = LabState(), PipelineConfig()
    first = lab.prepared(ds, cfg, key)
    assert lab.prepared(ds, cfg, key) is first
    moved_cfg = dataclasses.replace(cfg, labels=LabelConfig(w_click=2.0))
    moved = lab.prepared(ds, moved_cfg, key)
    assert moved.seen is first.seen  # the same split...
    assert moved.labels == moved_cfg.labels  # ...with the new label
    fresh = pipeline.prepare_data(ds, moved_cfg)
    np.testing.assert_array_equal(moved.interactions["label"], fresh.interactions["label"])
    other = lab.prepared(ds, dataclasses.replace(moved_cfg, seed=cfg.seed + 1), key)
    assert other.seen is not first.seen  # another seed: split again


# ---------------------------------------------------------------- jobs and saved runs

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A session that trained all three stages through a job (in the test's thread)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("LAB_SYNC_TRAINING", "1")
    mp.setenv("LAB_RUNS_DIR", str(tmp_path_factory.mktemp("runs")))
    dataset, key = resolve(WORLD)
    lab = LabState()
    job = jobs.start(lab, lab.plan("stage3", FAST, key), dataset, key, FAST, WORLD)
    yield lab, job, dataset, key
    mp.undo()


def test_a_job_trains_through_the_pipeline_and_saves_the_run(trained):
    lab, job, dataset, key = trained
    assert job.done
    assert job.error is None, job.error
    assert job.stages == ["stage1", "stage2", "stage3"]
    assert [lab.status(s, FAST, key) for s in ("stage1", "stage2", "stage3")] == ["fresh"] * 3
    assert lab.run_id == job.saved_run
    assert runs.valid_id(lab.run_id)
    # the same lists as the library's one stage chain with the same settings
    lib = pipeline.run(dataset, FAST)
    for stage in ("stage1", "stage2", "stage3"):
        np.testing.assert_array_equal(lab.stages[stage].output.lists.items, lib.lists()[stage].items)
    view = lab.view(dataset, key, FAST)
    assert view is lab.view(dataset, key, FAST)  # memoised until a setting changes
    np.testing.assert_array_equal(view.post.lists.items, lib.post.lists.items)
    assert view.evaluation.headline("final") == lib.evaluation.headline("final")


def test_a_second_start_while_training_starts_nothing(trained):
    _lab, _, dataset, key = trained
    other = LabState()
    other.job = jobs.Job(stages=["stage1"])  # not done: a training is under way
    assert jobs.start(other, ["stage1"], dataset, key, FAST) is None


def test_a_saved_run_restores_into_a_new_session(trained):
    lab, _, dataset, key = trained
    fresh = LabState()
    problem, meta = runs.restore(fresh, lab.run_id)
    assert problem is None
    assert (meta["source"], meta["generation"]) == ("world", WORLD.generation())  # the run names its dataset
    assert fresh.run_id == lab.run_id
    assert [fresh.status(s, FAST, key) for s in ("stage1", "stage2", "stage3")] == ["fresh"] * 3
    np.testing.assert_array_equal(fresh.view(dataset, key, FAST).post.lists.items,
                                  lab.view(dataset, key, FAST).post.lists.items)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "x" * 10, "", "A" * 30])
def test_a_bad_or_deleted_run_id_is_refused_with_a_message(trained, bad):
    fresh = LabState()
    problem, meta = runs.restore(fresh, bad)
    assert "not valid" in problem
    assert meta == {}
    assert fresh.stages == {}


def test_an_untrainable_label_fails_before_any_thread_starts(trained):
    _, _, dataset, key = trained
    lab = LabState()
    cfg = dataclasses.replace(FAST, target="label", labels=LabelConfig(threshold=1e6))
    with pytest.raises(Exception, match="no training interaction is positive"):
        jobs.start(lab, ["stage1"], dataset, key, cfg)
    assert lab.job is None


def test_pruning_keeps_the_recently_used_within_count_and_bytes(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_RUNS_DIR", str(tmp_path))
    ids = [f"{chr(65 + i)}" * 22 for i in range(6)]  # A…F, valid ids
    for age, run_id in enumerate(ids):  # A is the most recently used, F the least
        folder = tmp_path / run_id
        folder.mkdir()
        (folder / "snapshot.pkl").write_bytes(b"x" * 1000)
        t = 1_000_000 - age * 100
        os.utime(folder, (t, t))
    runs._SHOWN.clear()
    runs.shown(ids[5])  # a page shows the oldest run right now: it must survive any limit
    assert runs.prune(keep=3, budget=10**9) == 2  # D and E go; F is in use
    assert sorted(p.name[0] for p in tmp_path.iterdir()) == ["A", "B", "C", "F"]
    assert runs.prune(keep=10, budget=2500) == 1  # bytes: A and B fit (2000 B), C does not; F is in use
    assert sorted(p.name[0] for p in tmp_path.iterdir()) == ["A", "B", "F"]
    runs.touch(ids[1])  # restoring B makes it the most recently used
    assert runs.prune(keep=1, budget=10**9) == 1
    assert sorted(p.name[0] for p in tmp_path.iterdir()) == ["B", "F"]


def test_an_orphaned_job_is_cancelled_and_a_finished_one_collected_once(trained):
    lab, _job, _, _ = trained
    orphan = jobs.Job(stages=["stage1"])
    jobs.JOBS[orphan.id] = orphan
    stopped = jobs.reap(now=orphan.last_seen + jobs.orphan_seconds() + 1)
    assert orphan in stopped
    assert orphan.cancel_requested
    assert "its tab was closed" in orphan.message
    assert jobs.find(orphan.id) is orphan  # reattachable by its id until it expires
    assert jobs.collect(lab) is None  # the trained session already collected its job


def test_sessions_opening_at_once_load_a_dataset_once(monkeypatch):
    """Ten sessions asking for the same generated world at the same moment generate it once (the others wait)."""
    import threading

    from pages.session import generation

    calls = []
    real = generation.synth.generate
    monkeypatch.setattr(generation.synth, "generate",
                        lambda spec, progress=None: calls.append(spec) or real(spec, progress))
    choice = DataChoice("world", 40, 20, 300, 123457)  # a spec no other test uses (the cache is per process)
    start = threading.Barrier(10)
    got = []

    def open_lab():
        start.wait()
        got.append(resolve(choice)[0])

    threads = [threading.Thread(target=open_lab) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert all(ds is got[0] for ds in got)
