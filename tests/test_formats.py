"""CSV injection: every file made for people escapes formula-like text; the lab's data folders stay exact."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from ranking import cli, data
from ranking.data import formats as F
from ranking.data import schema as S

# OWASP's CSV-injection examples and the lab's reproduction: each must come back with a leading quote
HOSTILE = ["=cmd|' /C calc'!A0", '=HYPERLINK("http://evil.example","click")', "+1+1", "-2+3", "@SUM(1+1)",
           "\t=1+1", "\r=1+1"]
HARMLESS = ["-2.5", "+3", "1e5", "plain text", "a=b", "", "'already quoted"]


def _cells(raw: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))


def test_text_cells_that_would_run_as_formulas_get_a_leading_quote():
    frame = pd.DataFrame({"note": HOSTILE + HARMLESS})
    got = [row[0] for row in _cells(F.csv_bytes(frame))[1:]]
    assert got == ["'" + v for v in HOSTILE] + HARMLESS


def test_numbers_stay_numbers_in_numeric_and_mixed_columns():
    frame = pd.DataFrame({"x": [-2.5, 1.0], "n": [-3, 4], "mixed": pd.Series([-2.5, "-1+1"], dtype=object)})
    assert _cells(F.csv_bytes(frame)) == [["x", "n", "mixed"], ["-2.5", "-3", "-2.5"], ["1", "4", "'-1+1"]]


def test_a_cell_holding_a_carriage_return_is_quoted_so_no_reader_splits_its_row():
    raw = F.csv_bytes(pd.DataFrame({"note": ["a\r=1+1", "b"], "n": [1, 2]}), escape=False)
    assert _cells(raw) == [["note", "n"], ["a\r=1+1", "1"], ["b", "2"]]
    assert raw.count(b"\r") == 1
    assert b'"a\r=1+1"' in raw


def test_a_formula_like_column_name_is_escaped_too():
    assert _cells(F.csv_bytes(pd.DataFrame({"=1+1": ["a"]})))[0] == ["'=1+1"]


def test_data_folders_are_written_exactly_and_read_back_unchanged(seed_dir, tmp_path):
    """A saved upload (``write_tables``) must load back as the same data: a title "-5 things…" stays itself."""
    ds = data.load_dataset(seed_dir)
    content = ds.content.copy()
    titles = ["-5 things you missed", "=HYPERLINK(\"x\")", "@home", "+1 for this"]
    content[S.TITLE] = (titles * len(content))[:len(content)]
    data.write_tables(tmp_path, ds.users, content, ds.interactions)
    again = data.load_dataset(tmp_path)
    assert again.content[S.TITLE].tolist() == content[S.TITLE].tolist()


def _hostile_folder(seed_dir, tmp_path):
    """The seed-like tables with an extra interaction column holding HOSTILE values."""
    out = tmp_path / "hostile"
    out.mkdir()
    for path in seed_dir.iterdir():
        (out / path.name).write_bytes(path.read_bytes())
    frame = pd.read_csv(out / "Interaction.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    uploadable = [v for v in HOSTILE if "\r" not in v]  # the loader reads a lone CR as a line end
    frame["note"] = (uploadable * len(frame))[:len(frame)]
    frame.to_csv(out / "Interaction.csv", index=False)
    return out, frame["note"].tolist()


def test_the_cli_label_file_escapes_an_uploaded_column(seed_dir, tmp_path):
    folder, notes = _hostile_folder(seed_dir, tmp_path)
    assert cli.main(["label", "--data", str(folder), "--out", str(tmp_path / "labelled.csv")]) == 0
    rows = _cells((tmp_path / "labelled.csv").read_bytes())
    at = rows[0].index("note")
    assert sorted(r[at] for r in rows[1:]) == sorted("'" + v for v in notes)
    assert all(not r[at].startswith(F.FORMULA_START) for r in rows[1:])


@pytest.mark.parametrize("value", HOSTILE)
def test_escape_formula_prefixes_one_quote(value):
    assert F.escape_formula(value) == "'" + value
