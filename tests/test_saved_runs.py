"""Saved runs hold no pickle: what they store comes back equal, and a planted or damaged file is refused
with a sentence, without running anything (issue 25)."""

from __future__ import annotations

import io
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from streamlit.testing.v1 import AppTest

from pages.session import runs
from pages.session.state import LabState
from ranking import pipeline
from ranking.config import LabelConfig
from ranking.data import archive, store
from ranking.data.archive import ArchiveError
from ranking.errors import DataError
from ranking.pipeline import _score_pairs

ROOT = Path(__file__).resolve().parents[1]
RUN_ID = "P" * 22  # a valid run id


class Planted:
    """Unpickling this creates the marker file: the proof that a pickle in a run folder ran code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _doc_archive(root: object) -> bytes:
    """An archive written by hand around the document ``root`` (what a forger could write)."""
    text = json.dumps({"format": archive.FORMAT, "root": root}).encode()
    buf = io.BytesIO()
    np.savez(buf, **{archive.DOC: np.frombuffer(text, np.uint8)})
    return buf.getvalue()


def _plant(runs_dir: Path, files: dict[str, bytes], run_id: str = RUN_ID) -> Path:
    folder = runs_dir / run_id
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


# ---------------------------------------------------------------- the archive format

def test_a_trained_run_round_trips_without_pickle(trained_small, tmp_path):
    res = trained_small
    folder = pipeline.save_run(tmp_path / "run", res)
    assert not list(folder.glob("*.pkl"))
    with np.load(folder / store.MODELS, allow_pickle=False) as z:  # readable with pickles refused
        assert archive.DOC in z.files
    back = pipeline.load_run(folder, res.prep.dataset)
    assert json.dumps(back.evaluation.to_document(), default=str) == json.dumps(res.evaluation.to_document(),
                                                                                default=str)
    for name, out in res.outputs.items():
        np.testing.assert_array_equal(back.outputs[name].lists.items, out.lists.items)
        np.testing.assert_array_equal(back.outputs[name].lists.scores, out.lists.scores)
    # shared objects stay shared: stage 2's candidates are stage 1's lists, before and after
    assert (back.outputs["stage2"].candidates is back.outputs["stage1"].lists) == \
        (res.outputs["stage2"].candidates is res.outputs["stage1"].lists)
    # the models themselves came back: fresh pairs score the same through the reloaded XGBoost and Keras
    tu = res.prep.test["user_pos"].to_numpy()[:300]
    ti = res.prep.test["item_pos"].to_numpy()[::-1][:300].copy()
    for name, up in (("stage2", "stage1"), ("stage3", "stage2")):
        a, _ = _score_pairs(res.prep, name, res.outputs[name], res.outputs[up], tu, ti)
        b, _ = _score_pairs(back.prep, name, back.outputs[name], back.outputs[up], tu, ti)
        np.testing.assert_array_equal(a, b)


def test_values_of_every_kind_round_trip():
    rng = np.random.default_rng(0)
    X, y = rng.random((60, 3)), rng.random(60)
    booster = xgb.XGBRegressor(n_estimators=4).fit(X[:40], y[:40], eval_set=[(X[40:], y[40:])], verbose=False)
    shared = np.arange(5, dtype=np.int16)
    value = {"ints": [1, -2, 10**12], "floats": (0.5, float("nan"), float("inf")), 3: "int key", None: True,
             "arr": rng.random((2, 3)).astype(np.float32), "text": np.array(["a", "bb"], dtype=object),
             "scalar": np.float32(1.5), "series": pd.Series([0.25, 0.75], index=["x", "y"], name="gain"),
             "frame": pd.DataFrame({"a": [1, 2], "b": ["p", "q"]}), "set": frozenset({1, 2}),
             "labels": LabelConfig(w_share=3.0), "twice": [shared, shared], "xgb": booster}
    back = archive.loads(archive.dumps(value))
    assert back["ints"] == [1, -2, 10**12]
    assert back[3] == "int key"
    assert back[None] is True
    assert back["floats"][0] == 0.5
    assert np.isnan(back["floats"][1])
    assert back["floats"][2] == float("inf")
    assert back["arr"].dtype == np.float32
    assert np.array_equal(back["arr"], value["arr"])
    assert back["text"].dtype == object
    assert list(back["text"]) == ["a", "bb"]
    assert type(back["scalar"]) is np.float32
    assert back["scalar"] == 1.5
    pd.testing.assert_series_equal(back["series"], value["series"], check_index_type=False)
    pd.testing.assert_frame_equal(back["frame"], value["frame"], check_dtype=False)
    assert back["set"] == frozenset({1, 2})
    assert back["labels"] == LabelConfig(w_share=3.0)
    assert back["twice"][0] is back["twice"][1]
    np.testing.assert_array_equal(back["xgb"].predict(X), booster.predict(X))
    assert back["xgb"].evals_result() == booster.evals_result()


@pytest.mark.parametrize("foreign", [lambda: 0, object(), Path("/tmp"), np.array([object()])])
def test_storing_a_foreign_object_is_refused_with_its_place(foreign):
    with pytest.raises(ArchiveError, match=r"root\['x'\]"):
        archive.dumps({"x": foreign})


@pytest.mark.parametrize("root", [
    {"$t": "object", "cls": "os:system", "state": {"$t": "dict", "k": [], "v": [], "id": 1}, "id": 0},
    {"$t": "object", "cls": "subprocess:Popen", "state": {"$t": "dict", "k": [], "v": [], "id": 1}, "id": 0},
    {"$t": "object", "cls": "ranking.data.io:load_dataset", "state": {"$t": "dict", "k": [], "v": [], "id": 1},
     "id": 0},
    {"$t": "object", "cls": "ranking.data.io:os.system", "state": {"$t": "dict", "k": [], "v": [], "id": 1},
     "id": 0},
    {"$t": "object", "cls": "ranking.config:LabelConfig.__init__.__globals__", "state": None, "id": 0},
    {"$t": "pickle", "v": "gASV"},
    {"$t": "scalar", "dtype": "O", "v": 1},
    {"$t": "ref", "id": 99},
    {"$t": "array", "key": "missing", "id": 0},
    [1, 2],
])
def test_a_forged_archive_is_refused_before_anything_is_built(root):
    payload = {"$t": "dict", "k": ["format", "outputs"], "v": [3, root], "id": 100}  # nested in a valid-looking dict
    with pytest.raises(ArchiveError):
        archive.loads(_doc_archive(payload))


@pytest.mark.parametrize("data", [b"", b"PK\x03\x04 truncated", b"\x80\x04K\x01.", b"not a zip at all"])
def test_damaged_bytes_are_refused_with_a_sentence(data):
    with pytest.raises(ArchiveError, match="not a saved-run archive"):
        archive.loads(data)


def test_an_archive_of_another_format_version_is_refused():
    text = json.dumps({"format": "ranking-lab-archive/0", "root": None}).encode()
    buf = io.BytesIO()
    np.savez(buf, **{archive.DOC: np.frombuffer(text, np.uint8)})
    with pytest.raises(ArchiveError, match="format"):
        archive.loads(buf.getvalue())


# ---------------------------------------------------------------- planted pickles never run

def test_a_planted_pickle_in_a_cli_run_folder_is_refused_and_never_runs(trained_small, tmp_path):
    marker = tmp_path / "pwned"
    folder = pipeline.save_run(tmp_path / "run", trained_small)
    (folder / store.MODELS).unlink()
    (folder / "models.pkl").write_bytes(pickle.dumps({"format": 2, "outputs": Planted(marker)}))
    with pytest.raises(DataError, match="older version of the lab as a pickle"):
        pipeline.load_run(folder, trained_small.prep.dataset)
    assert not marker.exists()


@pytest.fixture
def runs_dir(monkeypatch, tmp_path) -> Path:
    monkeypatch.setenv("LAB_SYNC_TRAINING", "1")
    monkeypatch.setenv("LAB_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


def _meta() -> bytes:
    return json.dumps({"created": 0, "data_key": "sample", "source": "sample", "generation": {},
                       "stages": ["stage1"]}).encode()


def test_a_planted_pickle_behind_a_run_link_never_runs(runs_dir, tmp_path):
    marker = tmp_path / "pwned"
    nested = {"stages": {"stage1": ((("sample",),), Planted(marker))}, "data_key": "sample"}  # valid-looking
    _plant(runs_dir, {"snapshot.pkl": pickle.dumps(nested), "meta.json": _meta()})
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["run"] = RUN_ID
    at.run()
    assert not at.exception
    assert not marker.exists()
    assert "That run link is not valid" in " ".join(w.value for w in at.warning)


HOSTILE = {
    "truncated archive": {store.SNAPSHOT: b"PK\x03\x04\x14\x00", "meta.json": _meta()},
    "empty archive": {store.SNAPSHOT: b"", "meta.json": _meta()},
    "meta is a list": {store.SNAPSHOT: archive.dumps({"format": store.FORMAT, "payload": {}}), "meta.json": b"[1,2]"},
    "payload is a list": {store.SNAPSHOT: archive.dumps({"format": store.FORMAT, "payload": [1, 2]}),
                          "meta.json": _meta()},
    "no stages": {store.SNAPSHOT: archive.dumps({"format": store.FORMAT, "payload": {"stages": {}}}),
                  "meta.json": _meta()},
    "stage is not an output": {store.SNAPSHOT: archive.dumps(
        {"format": store.FORMAT, "payload": {"stages": {"stage1": {"key": {}, "output": [1]}}, "data_key": "sample"}}),
        "meta.json": _meta()},
    "only an old pickle": {"snapshot.pkl": pickle.dumps({"stages": {}}), "meta.json": _meta()},
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_saved_run_gets_a_sentence(runs_dir, kind):
    _plant(runs_dir, HOSTILE[kind])
    lab = LabState()
    problem, meta = runs.restore(lab, RUN_ID)
    assert "not valid" in problem
    assert meta == {}
    assert lab.stages == {}
    with pytest.raises((ValueError, DataError)):
        runs.load(RUN_ID)


def test_hostile_pins_leave_the_evaluation_page_working(runs_dir, tmp_path):
    from test_pages import app

    marker = tmp_path / "pwned"
    kinds = {**HOSTILE, "planted pickle": {"snapshot.pkl": pickle.dumps(
        {"stages": {"stage1": ((("sample",),), Planted(marker))}, "data_key": "sample"}), "meta.json": _meta()}}
    at = app("app.py")
    at.run()
    at.button(key="train_all").click().run()  # a trained session: the pin is only read beside results
    at.switch_page("pages/6_Evaluation.py").run()
    assert not at.exception
    for i, (kind, files) in enumerate(sorted(kinds.items())):
        run_id = chr(ord("a") + i) * 22
        _plant(runs_dir, files, run_id)
        at.session_state["pin"] = run_id
        at.run()
        assert not at.exception, kind
        shown = " ".join(w.value for w in at.warning)
        assert "The pinned run cannot be opened" in shown, (kind, shown)
        assert str(runs_dir) not in shown, kind
        assert "/tmp" not in shown, kind
    assert not marker.exists()
