"""pages.session.seed_jobs: the seed study as a background job, with the worker pool replaced by a fake."""

from __future__ import annotations

import pickle
import threading

import pytest

from pages.session import seed_jobs, worker


class _FakePool:
    """Answers every seed with the same trained stages, or waits until the job says stop."""

    def __init__(self, outputs=None):
        self.outputs, self.payloads = outputs, []
        self.waiting = threading.Event()

    def run(self, payload, on_message, cancelled, mark=lambda what: None):  # worker.Pool.run's interface
        self.payloads.append(pickle.loads(payload))
        on_message(("progress", "stage1", 0.5, "fitting", {}))
        if self.outputs is not None:
            return ("done", pickle.dumps(self.outputs), 0.0)
        self.waiting.set()
        while not cancelled():
            threading.Event().wait(0.01)
        return ("cancelled",)


@pytest.fixture(autouse=True)
def _background(monkeypatch):
    monkeypatch.delenv("LAB_SYNC_TRAINING", raising=False)


def _wait(job):
    job.thread.join(timeout=120)
    assert job.done


def test_each_new_seed_trains_in_the_pool_and_the_sessions_stages_are_reused(monkeypatch, trained_small):
    pool = _FakePool({s: trained_small.outputs[s] for s in ("stage1", "stage2", "stage3")})
    monkeypatch.setattr(worker, "pool", lambda: pool)
    cfg = trained_small.config
    job = seed_jobs.start(trained_small.prep, cfg, ("key",), n_seeds=3, trained=trained_small.outputs)
    _wait(job)
    assert job.error is None
    assert [p[1].seed for p in pool.payloads] == [43, 44]  # seed 42 = the session's own stages
    assert all(p[2] == ["stage1", "stage2", "stage3"] and p[3] == {} for p in pool.payloads)
    assert job.result.seeds == (42, 43, 44)
    up = job.result.comparison("stage1", "stage2")
    assert up.effects[0] == pytest.approx(up.effects[1])  # the same stages answered every seed
    assert job.fraction == 1.0


def test_cancel_stops_the_running_seed(monkeypatch, trained_small):
    pool = _FakePool()
    monkeypatch.setattr(worker, "pool", lambda: pool)
    job = seed_jobs.start(trained_small.prep, trained_small.config, ("key",), n_seeds=2)
    assert pool.waiting.wait(60)
    job.cancel()
    _wait(job)
    assert job.error == "cancelled from its page"
    assert job.result is None


def test_a_study_no_page_shows_is_cancelled(monkeypatch, trained_small):
    pool = _FakePool()
    monkeypatch.setattr(worker, "pool", lambda: pool)
    monkeypatch.setattr(seed_jobs, "ORPHAN_S", 0.05)
    job = seed_jobs.start(trained_small.prep, trained_small.config, ("key",), n_seeds=2)
    _wait(job)
    assert job.error == "cancelled: its page was closed"
