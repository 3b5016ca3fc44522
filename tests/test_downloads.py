"""Every download the app offers, fetched as a browser would, holds no text a spreadsheet would run."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_formats import _hostile_folder
from test_pages import TINY

from pages.session.state import LabState
from ranking import data
from ranking.data import formats as F

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _sync_training(monkeypatch):
    monkeypatch.setenv("LAB_SYNC_TRAINING", "1")


@pytest.fixture
def offered(monkeypatch) -> dict[str, bytes]:
    """Every download button a page draws, by label, with the file a click would fetch.

    AppTest has no server runtime, so a button whose data is a callable (generated on click) shows no file;
    the buttons are recorded where the page draws them and their callables called as a click would.
    """
    import streamlit as st
    from streamlit.delta_generator import DeltaGenerator

    files: dict[str, bytes] = {}
    real = DeltaGenerator.download_button

    def record(self, label, data, *args, **kwargs):
        files[label] = data() if callable(data) else data
        return real(self, label, data, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", record)
    monkeypatch.setattr(st, "download_button", lambda *a, **k: record(st._main, *a, **k))
    return files


def test_labelled_download_escapes_an_uploaded_column_and_keeps_numbers(seed_dir, tmp_path, offered):
    folder, notes = _hostile_folder(seed_dir, tmp_path)
    at = AppTest.from_file(str(ROOT / "pages" / "1_Labels.py"), default_timeout=240)
    at.query_params["data"] = "upload"
    at.session_state["_lab"] = LabState(upload=data.load_dataset(folder, name="your upload"))
    at.run()
    assert not at.exception
    assert [b.proto.label for b in at.get("download_button")] == ["Download labelled interactions (CSV)"]
    rows = list(csv.DictReader(io.StringIO(offered["Download labelled interactions (CSV)"].decode("utf-8"))))
    assert sorted(r["note"] for r in rows) == sorted("'" + v for v in notes)
    assert all(not v.startswith("'") for r in rows for k, v in r.items() if k != "note")
    scores = [float(r["engagement_score"]) for r in rows]
    assert min(scores) < 0  # negative scores (hides) stay numbers: "-1", not "'-1"


def test_the_upload_template_holds_no_formula_like_cell(offered):
    at = AppTest.from_file(str(ROOT / "pages" / "0_Home.py"), default_timeout=240)
    at.query_params["data"] = "upload"
    at.run()
    assert not at.exception
    import zipfile

    archive = zipfile.ZipFile(io.BytesIO(offered["Upload template (3 CSVs)"]))
    for name in archive.namelist():
        cells = [c for row in csv.reader(io.StringIO(archive.read(name).decode("utf-8"))) for c in row]
        assert [c for c in cells if F.escape_formula(c) != c] == [], name


def test_the_evaluation_downloads_are_the_escaped_rankings_and_strict_json(offered):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.query_params.update(TINY)
    at.run()
    at.button(key="train_all").click().run()
    at.switch_page("pages/6_Evaluation.py").run()
    assert not at.exception
    rows = list(csv.reader(io.StringIO(offered["Download every user's rankings (CSV)"].decode("utf-8"))))
    assert rows[0] == ["user_id", "content_id", "stage", "rank", "score"]
    assert {r[2] for r in rows[1:]} <= {"stage1", "stage2", "stage3", "final"}
    assert all(F.escape_formula(c) == c for r in rows for c in r)  # ids, ranks and scores: numbers
    assert json.loads(offered["Download metrics (JSON)"])
