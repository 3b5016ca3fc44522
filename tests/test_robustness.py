"""Issue 5 in AppTest: saved runs restore without retraining, run ids are validated, disk is bounded,
uploads report every problem and keep the app working, same settings give the same result."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from pages.session import runs
from ranking.data import store

ROOT = Path(__file__).resolve().parents[1]
TINY = {"data": "world", "g_users": "300", "g_items": "120", "g_inter": "6000", "s3_epochs": "3"}


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_SYNC_TRAINING", "1")
    monkeypatch.setenv("LAB_RUNS_DIR", str(tmp_path / "runs"))


def app(page: str = "app.py", **params: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=240)
    at.query_params.update({**TINY, **params})
    return at


def badges(at: AppTest) -> list[str]:
    return [m.value for m in at.sidebar.markdown if "badge[" in m.value]


def test_a_run_link_restores_trained_stages_without_retraining(tmp_path):
    at = app()
    at.run()
    at.button(key="train_all").click().run()
    assert not at.exception
    run_id = at.query_params["run"][0] if isinstance(at.query_params["run"], list) else at.query_params["run"]
    assert runs.valid_id(run_id)
    assert (tmp_path / "runs" / run_id / store.SNAPSHOT).is_file()
    first = [m.value for m in at.metric]

    again = app(run=run_id)  # a fresh session: a refresh or an opened lesson link
    again.run()
    assert not again.exception
    assert all("trained" in b and "not trained" not in b and "stale" not in b for b in badges(again))
    assert not again.success, "nothing was trained: no 'Trained …' message"
    assert [m.value for m in again.metric] == first


@pytest.mark.parametrize("bad", ["../../etc/passwd", "..", "x" * 10, "a/b" + "c" * 30, "", "%2e%2e" * 6])
def test_bad_run_ids_are_refused_politely(bad):
    assert not runs.valid_id(bad)
    at = app(run=bad)
    at.run()
    assert not at.exception
    if bad:
        assert any("not valid" in w.value for w in at.warning), [w.value for w in at.warning]
    else:  # an empty ?run= is no run link at all: nothing to warn about
        assert not at.warning
    assert at.button(key="train_all")


def test_unknown_run_id_warns_and_keeps_working():
    at = app(run="A" * 22)
    at.run()
    assert not at.exception
    assert any("not valid" in w.value for w in at.warning)
    assert at.button(key="train_all")


def test_old_runs_are_pruned(tmp_path, monkeypatch):
    base = tmp_path / "runs"
    base.mkdir()
    for i in range(7):
        d = base / (f"{i:02d}" + "r" * 22)
        d.mkdir()
        (d / "meta.json").write_text("{}")
        import os
        os.utime(d, (1_000_000 + i, 1_000_000 + i))
    (base / "not-a-run").mkdir()
    assert runs.prune(keep=3) == 4
    left = sorted(p.name[:2] for p in base.iterdir() if runs.valid_id(p.name))
    assert left == ["04", "05", "06"]
    assert (base / "not-a-run").is_dir(), "only folders with run ids are touched"


def _seed_files(seed_dir: Path) -> dict[str, bytes]:
    return {name: (seed_dir / name).read_bytes() for name in ("Users.csv", "Content.csv", "Interaction.csv")}


def test_a_bad_upload_lists_problems_and_the_app_keeps_working(seed_dir):
    files = _seed_files(seed_dir)
    files["Interaction.csv"] = files["Interaction.csv"].replace(b"\r1,101,1,", b"\r1,101,7,", 1)
    at = app(data="upload")
    at.run()
    uploader = at.file_uploader(key="upload_files")
    uploader.set_value([(n, b, "text/csv") for n, b in files.items()]).run()
    assert not at.exception
    text = " ".join(t.value for t in at.text)
    assert "Interaction.csv, column 'click', row 1: values must be 0 or 1 (got '7')" in text
    assert any("previous" in e.value or "sample" in e.value for e in at.error)
    # still usable: the sample world is in use and the funnel is drawn
    assert "sample world" in at.sidebar.caption[0].value
    funnel = [json.loads(e.proto.spec) for e in at.get("plotly_chart")]
    titles = [f["layout"]["title"]["text"] for f in funnel]
    assert any(t.startswith("Ranking funnel") for t in titles), titles


def test_a_good_upload_is_used(seed_dir):
    at = app(data="upload")
    at.run()
    at.file_uploader(key="upload_files").set_value(
        [(n, b, "text/csv") for n, b in _seed_files(seed_dir).items()]).run()
    assert not at.exception
    assert any("100 users, 100 items, 106 interactions" in s.value for s in at.success)
    assert "your upload" in at.sidebar.caption[0].value


def test_same_settings_give_the_same_rankings_twice():
    from pages.session import state as S

    results = []
    for _ in range(2):
        at = app()
        at.run()
        at.button(key="train_all").click().run()
        lab = at.session_state["_lab"]
        results.append({s: t.output.lists for s, t in lab.stages.items()})
        assert isinstance(lab, S.LabState)
    for stage in results[0]:
        np.testing.assert_array_equal(results[0][stage].items, results[1][stage].items)
        np.testing.assert_array_equal(results[0][stage].scores, results[1][stage].scores)


def test_the_ui_ranks_exactly_like_the_library(trained_small):
    """Same settings + seed → the same lists in the app as from ranking.pipeline (what the CLI runs)."""
    ds = trained_small.prep.dataset  # the shared run is on the world TINY asks the app for
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (300, 120, 6000)
    assert {"g_users": "300", "g_items": "120", "g_inter": "6000", "s3_epochs": "3"}.items() <= TINY.items()
    at = app()
    at.run()
    at.button(key="train_all").click().run()
    ui = {s: t.output.lists for s, t in at.session_state["_lab"].stages.items()}

    lib_lists = trained_small.lists()  # pipeline.run on the same world with stage 3 at 3 epochs
    assert trained_small.config.stage3.epochs == 3
    for stage in ("stage1", "stage2", "stage3"):
        lib = lib_lists[stage]
        np.testing.assert_array_equal(ui[stage].items, lib.items)
        np.testing.assert_array_equal(ui[stage].scores, lib.scores)


def test_a_second_train_click_while_training_starts_nothing(monkeypatch):
    """The server-side guard behind the disabled button: one job per session at a time."""
    from pages.session import jobs
    from pages.session import state as S
    from ranking.config import PipelineConfig
    from ranking.data import synth

    monkeypatch.setenv("LAB_SYNC_TRAINING", "0")
    lab = S.LabState()
    running = jobs.Job(stages=["stage1"])  # not done: a training is under way
    lab.job = running
    dataset = synth.generate(synth.WorldSpec(n_users=50, n_items=30, n_interactions=600, seed=1)).to_dataset()
    assert jobs.start(lab, ["stage1"], dataset, "k", PipelineConfig()) is None
    assert lab.job is running


def test_two_uploads_with_the_same_name_are_refused_by_name(seed_dir):
    """Issue 14 (9): same-name files used to collapse silently while both chips stayed visible."""
    files = _seed_files(seed_dir)
    at = app(data="upload")
    at.run()
    at.file_uploader(key="upload_files").set_value(
        [(n, b, "text/csv") for n, b in files.items()] + [("users.csv", files["Users.csv"], "text/csv")]).run()
    assert not at.exception
    text = " ".join(t.value for t in at.text)
    assert "users.csv: uploaded 2 times; remove all but one" in text
    assert "sample world" in at.sidebar.caption[0].value  # nothing was used


def test_the_server_never_imports_keras_to_show_a_trained_neural_stage(trained_small, tmp_path):
    """Issue 14 (1): once Keras is imported in the server, Streamlit ends every script run with
    keras.backend.clear_session() + gc. A stage-3 output unpickled and evaluated in a fresh process
    (what the server does with a worker's result) must not import it."""
    import pickle
    import subprocess
    import sys

    outputs = {name: trained_small.outputs[name] for name in ("stage1", "stage2", "stage3")}
    path = tmp_path / "outputs.pkl"
    path.write_bytes(pickle.dumps((trained_small.prep, trained_small.config, outputs)))
    code = ("import pickle, sys\n"
            "from ranking import pipeline\n"
            f"prep, cfg, outputs = pickle.loads(open({str(path)!r}, 'rb').read())\n"
            "result = pipeline.finish(prep, cfg, outputs)\n"
            "assert result.stage3.model.history_['loss']\n"
            "print(round(result.evaluation.headline('final'), 6), 'keras' in sys.modules,\n"
            "      'tensorflow' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    final, keras, tf = out.stdout.split()
    assert (keras, tf) == ("False", "False")
    assert float(final) == round(trained_small.evaluation.headline("final"), 6)  # same held-out scores reused


def test_a_job_link_after_a_server_restart_says_the_training_was_interrupted_and_offers_retrain():
    at = app(job="Rz0-restarted_16")  # a valid id (16 URL-safe characters) this server does not know
    at.run()
    assert not at.exception
    box = " ".join(m.value for m in at.markdown)
    assert "no longer on the server" in box
    assert "interrupted" in box
    assert "job" not in at.query_params  # dropped from the address bar
    at.button(key="interrupted_retrain").click().run()
    assert not at.exception
    assert any("Stage 3 · neural: trained" in b for b in badges(at)), badges(at)
    assert "no longer on the server" not in " ".join(m.value for m in at.markdown)
