"""The app's generated worlds: one shared computation per spec, progress, Cancel and a time budget."""

from __future__ import annotations

import threading

import pytest

from pages.session import generation
from ranking.data import synth

KEY = (30, 12, 400, 7)  # small: each test uses its own seed, since the table is per process


@pytest.fixture
def gated(monkeypatch):
    """synth.generate blocked until ``gate`` is set, counting its calls; background threads, not sync mode."""
    monkeypatch.delenv("LAB_SYNC_TRAINING", raising=False)
    calls, gate, entered = [], threading.Event(), threading.Event()
    real = synth.generate

    def slow(spec, progress=None):
        calls.append(spec)
        progress(0.0, "waiting at the gate")
        entered.set()
        assert gate.wait(30)
        return real(spec, progress)

    monkeypatch.setattr(generation.synth, "generate", slow)
    return calls, gate, entered


def _key(seed: int) -> generation.Key:
    return (*KEY[:3], seed)


def test_identical_requests_from_many_sessions_compute_once(gated):
    calls, gate, entered = gated
    key = _key(101)
    gens = [generation.request(key, f"session {i}") for i in range(5)]
    assert entered.wait(30)
    assert all(g is gens[0] for g in gens)
    assert set(gens[0].watchers) == {f"session {i}" for i in range(5)}
    gate.set()
    datasets = [generation.wait(key, f"session {i}") for i in range(5)]
    assert len(calls) == 1
    assert all(ds is datasets[0] for ds in datasets)
    assert datasets[0].n_users == 30
    assert generation.request(key, "a later session").result is datasets[0]  # cached for later sessions
    assert len(calls) == 1


def test_a_generation_stops_only_when_every_session_watching_it_cancelled(gated):
    calls, gate, entered = gated
    key = _key(102)
    gen = generation.request(key, "a")
    generation.request(key, "b")
    assert entered.wait(30)
    gen.leave("a")
    gen.leave("b")
    gate.set()
    assert gen.finished.wait(30)
    assert gen.result is None
    assert gen.error == "Generating this world was cancelled."
    generation.retry(key)  # asking again starts a new generation
    again = generation.request(key, "c")
    assert again is not gen
    assert again.finished.wait(30)
    assert again.result is not None
    assert len(calls) == 2


def test_one_session_cancelling_leaves_the_generation_to_the_others(gated):
    _, gate, entered = gated
    key = _key(103)
    gen = generation.request(key, "a")
    generation.request(key, "b")
    assert entered.wait(30)
    gen.leave("a")
    gate.set()
    assert gen.finished.wait(30)
    assert gen.error is None
    assert gen.result is not None


def test_a_session_asking_for_another_world_leaves_the_one_it_waited_for(gated):
    _, gate, entered = gated
    first = generation.request(_key(107), "a")
    assert entered.wait(30)
    second = generation.request(_key(108), "a")  # a new seed typed while the first world was generating
    gate.set()
    assert first.finished.wait(30)
    assert second.finished.wait(30)
    assert second.result is not None
    assert first.error == "Generating this world was cancelled."


def test_a_generation_past_its_time_budget_stops_with_a_sentence(gated, monkeypatch):
    calls, gate, _ = gated
    gate.set()
    monkeypatch.setenv("LAB_GEN_BUDGET_S", "1e-9")  # every step after the start is past it
    gen = generation.request(_key(104), "a")
    assert gen.finished.wait(30)
    assert len(calls) == 1
    assert gen.result is None
    assert "longer than its time budget of 1e-09 s (LAB_GEN_BUDGET_S)" in gen.error
    assert "choose fewer interactions" in gen.error


def test_a_world_over_the_memory_limit_is_refused_before_it_starts(monkeypatch):
    monkeypatch.setenv("LAB_MAX_MEMORY_GB", "0.1")
    with pytest.raises(generation.RankingError, match="Interactions 400 would need about"):
        generation.request(_key(105), "a")


def test_a_page_shows_the_generation_with_progress_and_cancel_falls_back_to_the_sample(gated, monkeypatch):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    _, gate, entered = gated
    from pages.session import worker

    monkeypatch.setenv("LAB_TRAIN_ON_START", "0")  # background mode here: no start-up training of the sample,
    monkeypatch.setattr(worker, "warm_in_background", lambda: None)  # and no training workers
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "pages" / "1_Labels.py"), default_timeout=120)
    at.query_params.update({"data": "world", "g_users": "30", "g_items": "12", "g_inter": "400", "g_seed": "106"})
    at.run()
    assert entered.wait(30)
    assert not at.exception
    bar = [p for p in at.get("progress") if "Generating 30 users × 12 items × 400 interactions (seed 106)" in
           p.proto.text]
    assert bar
    at.button(key="cancel_gen").click().run()
    assert not at.exception
    assert any("Generating the world was cancelled" in i.value for i in at.info)
    gate.set()
    gen = generation.request(_key(106), "checker")  # the cancelled one, or a new one for this checker
    assert gen.finished.wait(30)
