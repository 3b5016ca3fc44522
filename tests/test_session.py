"""The widget-free session model (pages/session): staleness rules, training plans, jobs and saved runs,
driven directly, without Streamlit."""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from pages.session import jobs, runs
from pages.session.datasets import DataChoice, resolve
from pages.session.state import LabState, Trained, stage_keys
from ranking import pipeline
from ranking.config import GBDTConfig, LabelConfig, NeuralConfig, PipelineConfig, PostConfig
from ranking.data import store
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
        (folder / store.SNAPSHOT).write_bytes(b"x" * 1000)
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


def test_a_failed_save_removes_its_folder_logs_the_cause_and_says_links_will_not_work(trained, tmp_path,
                                                                                      monkeypatch, caplog):
    lab, _, _dataset, key = trained
    monkeypatch.setenv("LAB_RUNS_DIR", str(tmp_path / "full"))

    def full_disk(path, data):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data[: len(data) // 2])  # half written, then the disk is full
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(store.formats, "write_bytes", full_disk)
    with pytest.raises(runs.SaveFailed) as caught:
        runs.save(lab.stages, key, WORLD)
    message = str(caught.value)
    assert "no space left on device" in message
    assert "links to it will not bring it back" in message
    assert str(tmp_path) not in message  # no server path on the page
    assert list((tmp_path / "full").iterdir()) == []  # the half-written folder is gone
    assert "could not save run" in caplog.text
    assert "Traceback" in caplog.text or any(r.exc_info for r in caplog.records)


# ---------------------------------------------------------------- a job belongs to its session

def test_a_job_belongs_to_the_session_that_started_it():
    owner, other, third = LabState(), LabState(), LabState()
    job = jobs.Job(stages=["stage1"], owner=owner.session_id)
    owner.job = job
    connected = {owner.session_id}
    active = connected.__contains__
    # another connected session opening the job's link only watches
    assert jobs.attach(other, job, active) == "watching"
    assert other.job is None
    assert other.watching is job
    # it can neither cancel it nor receive its result
    assert not jobs.cancel_own(third, job)
    assert not job.cancel_requested
    job.result, job.saved_run, job.done = {"stage1": Trained(None, _fake("stage1"))}, "R" * 22, True
    other.job = job  # even handed the job object, a non-owner does not collect it
    assert jobs.collect(other) is None
    assert other.stages == {}
    other.job = None
    assert jobs.collect(owner) is job  # the starting session gets its result
    assert set(owner.stages) == {"stage1"}
    assert owner.run_id == "R" * 22


def test_a_refreshed_tab_takes_its_job_over_once_the_old_session_is_gone():
    before, after, stranger = LabState(), LabState(), LabState()
    job = jobs.Job(stages=["stage1"], owner=before.session_id)
    before.job = job
    connected = {before.session_id, after.session_id, stranger.session_id}
    assert jobs.attach(after, job, connected.__contains__) == "watching"  # the old tab is still connected
    connected.discard(before.session_id)  # F5: the old tab's session disconnects
    assert jobs.attach(after, job, connected.__contains__) == "took over"
    assert after.job is job
    assert after.watching is None
    assert job.owner == after.session_id
    assert jobs.attach(stranger, job, connected.__contains__) == "watching"
    assert jobs.cancel_own(after, job)
    assert job.cancel_requested


def test_a_finished_job_of_another_session_shows_nothing():
    owner, other = LabState(), LabState()
    job = jobs.Job(stages=["stage1"], owner=owner.session_id, done=True)
    assert jobs.attach(other, job, lambda sid: True) == "finished"
    assert other.job is None
    assert other.watching is None


# ---------------------------------------------------------------- a class shares its trainings

@pytest.fixture
def gated_training(monkeypatch, tmp_path):
    """Asynchronous jobs whose training waits for ``release``; ``calls`` lists every training that ran."""
    monkeypatch.delenv("LAB_SYNC_TRAINING", raising=False)
    monkeypatch.setenv("LAB_RUNS_DIR", str(tmp_path / "runs"))
    calls: list[list[str]] = []
    release = threading.Event()

    def train(prep, cfg, stages, trained, progress, cancelled, mark=lambda what: None):
        calls.append(list(stages))
        progress(stages[0], 0.5, "halfway", {"valid-auc": 0.7})
        while not release.wait(0.05):
            if cancelled():
                raise jobs.Cancelled
        return {s: _fake(s) for s in stages}, None

    monkeypatch.setattr(jobs, "train_stages", train)
    return calls, release


def test_identical_requests_train_once_and_every_session_receives_the_result(gated_training):
    calls, release = gated_training
    dataset, key = resolve(WORLD)
    labs = [LabState() for _ in range(5)]
    class_jobs = [jobs.start(lab, ["stage1", "stage2", "stage3"], dataset, key, FAST, WORLD) for lab in labs]
    other = LabState()  # another seed is another request
    other_job = jobs.start(other, ["stage1", "stage2", "stage3"], dataset, key, dataclasses.replace(FAST, seed=9),
                           WORLD)
    assert [j.follows for j in class_jobs[1:]] == [class_jobs[0]] * 4
    assert other_job.follows is None
    release.set()
    for job in [*class_jobs, other_job]:
        assert job.finished.wait(60)
    assert len(calls) == 2  # one training for the class, one for the other seed
    for lab, job in zip(labs, class_jobs, strict=True):
        assert job.error is None
        assert jobs.collect(lab) is job
        assert lab.stages["stage3"].output is labs[0].stages["stage3"].output  # the very same trained stages
        assert lab.run_id == labs[0].run_id
        assert [lab.status(s, FAST, key) for s in ("stage1", "stage2", "stage3")] == ["fresh"] * 3
    assert jobs.collect(other) is other_job
    assert other.run_id != labs[0].run_id


def test_a_follower_trains_on_its_own_when_the_first_session_cancels(gated_training):
    calls, release = gated_training
    dataset, key = resolve(WORLD)
    first, second = LabState(), LabState()
    lead = jobs.start(first, ["stage1"], dataset, key, FAST, WORLD)
    follow = jobs.start(second, ["stage1"], dataset, key, FAST, WORLD)
    assert follow.follows is lead
    assert not jobs.cancel_own(second, lead)  # nobody else cancels the leader
    assert jobs.cancel_own(first, lead)
    assert lead.finished.wait(60)
    assert lead.error == "cancelled from its page"
    release.set()
    assert follow.finished.wait(60)
    assert follow.error is None
    assert len(calls) == 2  # the follower trained on its own after the leader stopped
    assert jobs.collect(second) is follow
    assert set(second.stages) == {"stage1"}


def test_concurrent_identical_requests_compute_once_and_a_failure_is_not_kept():
    from pages.session.shared import SingleFlight

    memo, gate, calls = SingleFlight(2), threading.Event(), []

    def compute():
        calls.append(1)
        gate.wait(30)
        return object()

    got = []
    threads = [threading.Thread(target=lambda: got.append(memo.get("k", compute))) for _ in range(8)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(30)
    assert len(calls) == 1
    assert len(got) == 8
    assert all(g is got[0] for g in got)

    def broken():
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        memo.get("bad", broken)
    assert memo.get("bad", lambda: 5) == 5  # the failure was not kept
    memo.get("x", object)
    memo.get("y", object)  # beyond 2 keys the least recently used goes
    assert memo.get("k", lambda: "recomputed") == "recomputed"


def test_sessions_holding_the_same_trained_stages_share_one_evaluation(trained):
    lab, _job, dataset, key = trained
    others = [LabState(stages=dict(lab.stages)) for _ in range(3)]  # e.g. followers of one shared training
    views = [o.view(dataset, key, FAST) for o in others]
    assert all(v is views[0] for v in views)
    assert LabState(stages=dict(lab.stages)).view(dataset, key, dataclasses.replace(FAST, seed=5)) is None
