"""The training worker pool (pages/session/worker.py): a real worker process trains, reports and hands back."""

from __future__ import annotations

import pickle

import pytest

from pages.session import worker as W
from ranking import pipeline
from ranking.config import PipelineConfig
from ranking.data import synth


class _Conn:
    def __init__(self) -> None:
        self.sent: list[tuple] = []

    def send(self, message: tuple) -> None:
        self.sent.append(message)


def test_progress_goes_out_in_batches_and_nothing_is_lost():
    now = [0.0]
    conn = _Conn()
    report = W._Reporter(conn, clock=lambda: now[0])
    for r in range(4):  # at 0.0, 0.1, 0.2: held; at 0.3 (≥ 0.25 s after the start): one batch of 4
        now[0] = r / 10
        report("stage2", r / 10, f"round {r}", {"valid-auc": 0.5 + r / 100})
    assert [m[0] for m in conn.sent] == ["progress_batch"]
    assert [item[3] for item in conn.sent[0][1]] == ["round 0", "round 1", "round 2", "round 3"]
    now[0] = 0.5
    report("stage3", 0.5, "epoch 1", {})  # 0.2 s after the batch at 0.3: held
    assert len(conn.sent) == 1
    report.flush()  # the job's end sends what is left
    assert [item[3] for item in conn.sent[1][1]] == ["epoch 1"]
    assert conn.sent[0][1][0] == ("progress", "stage2", 0.0, "round 0", {"valid-auc": 0.5})


@pytest.mark.timeout(300)
def test_a_worker_process_trains_every_stage_and_reports_its_phases():
    dataset = synth.generate(synth.WorldSpec(n_users=60, n_items=30, n_interactions=1800, seed=1)).to_dataset()
    config = PipelineConfig()
    prep = pipeline.prepare_data(dataset, config)
    pool = W.Pool(1)
    messages, marks = [], []
    payload = pickle.dumps((prep, config, ["stage1", "stage2", "stage3"], {}))
    end = pool.run(payload, messages.append, lambda: False, marks.append)
    assert end[0] == "done", end
    outputs = pickle.loads(end[1])
    assert set(outputs) == {"stage1", "stage2", "stage3"}
    assert end[2] > 0  # seconds the worker spent training
    assert marks == ["spawned a worker", "slot", "worker ready", "sent"]
    stages = {m[1] for m in messages}
    assert {"stage1", "stage2", "stage3"} <= stages  # every stage's progress arrived, unbatched for the page
    assert all(m[0] == "progress" for m in messages)
    # the worker stays warm: the next job does not spawn one
    again: list[str] = []
    assert pool.run(payload, lambda m: None, lambda: False, again.append)[0] == "done"
    assert "spawned a worker" not in again
    for w in pool._idle:
        w.stop()


def test_the_pool_leaves_one_core_to_the_server(monkeypatch):
    monkeypatch.delenv("LAB_WORKERS", raising=False)
    assert [W.pool_size(c) for c in (1, 2, 4, 8)] == [1, 1, 3, 7]
    monkeypatch.setenv("LAB_WORKERS", "2")
    assert W.pool_size(2) == 2  # the setting wins
    monkeypatch.setenv("LAB_WORKER_NICE", "15")
    assert W.worker_nice() == 15
