"""ranking.data: loading the seed tables, every validation rule, and writing tables back.

Expected values come from reading the CSVs by hand (the csv module, or the comments), never from the
loader. ``seed`` is the seed-like tables of tests/seedlike.py; ``real_seed`` the notebook's own.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ranking import data
from ranking.data import schema as S
from ranking.errors import DataError

NAMES = ("Users.csv", "Content.csv", "Interaction.csv")
BOM = "\ufeff"


# --- helpers: the seed tables as editable lines -------------------------------------------------


@pytest.fixture(scope="module")
def seed_files(seed_dir: Path) -> dict[str, bytes]:
    return {n: (seed_dir / n).read_bytes() for n in NAMES}


@pytest.fixture(scope="module")
def seed(seed_dir: Path) -> data.Dataset:
    return data.load_dataset(seed_dir)


@pytest.fixture(scope="module")
def real_seed(real_seed_dir: Path) -> data.Dataset:
    return data.load_dataset(real_seed_dir)


def raw_rows(files: dict[str, bytes], name: str) -> list[dict[str, str]]:
    """One table's rows as text with the csv module only (BOM and CR-only line endings handled here)."""
    text = files[name].decode("utf-8").removeprefix(BOM).replace("\r", "\n")
    return list(csv.DictReader(io.StringIO(text)))


def as_lines(files: dict[str, bytes]) -> dict[str, list[str]]:
    """Each file as lines: index 0 is the header, index n is data row n."""
    return {n: b.decode("utf-8").removeprefix(BOM).split("\r") for n, b in files.items()}


def encode(lines: list[str], eol: str = "\r", bom: bool = True, encoding: str = "utf-8") -> bytes:
    return ((BOM if bom else "") + eol.join(lines)).encode(encoding)


def cell(lines: list[str], row: int, col: str, value: str) -> None:
    parts = lines[row].split(",")  # the seed has no quoted fields
    parts[lines[0].split(",").index(col)] = value
    lines[row] = ",".join(parts)


def drop_col(lines: list[str], col: str) -> None:
    k = lines[0].split(",").index(col)
    lines[:] = [",".join(p for j, p in enumerate(line.split(",")) if j != k) for line in lines]


def rename_col(lines: list[str], old: str, new: str) -> None:
    lines[0] = ",".join(new if c == old else c for c in lines[0].split(","))


def frames_equal(a: data.Dataset, b: data.Dataset) -> None:
    for attr in ("users", "content", "interactions"):
        pd.testing.assert_frame_equal(getattr(a, attr), getattr(b, attr))
    assert a.affinity == b.affinity
    assert a.fingerprint == b.fingerprint


# --- the seed-like tables themselves (tests/seedlike.py) -----------------------------------------


def test_seedlike_tables_carry_the_seeds_traps(seed_files, tmp_path):
    import seedlike

    for name, raw in seed_files.items():
        assert raw.startswith(BOM.encode()), name
        assert b"\n" not in raw, name  # CR-only line endings
        assert not raw.endswith(b"\r"), name  # no line end after the last row, as in the seed
    users, content = raw_rows(seed_files, "Users.csv"), raw_rows(seed_files, "Content.csv")
    inter = raw_rows(seed_files, "Interaction.csv")
    assert (len(users), len(content), len(inter)) == (100, 100, 106)
    assert [int(r["content_id"]) for r in content] == list(range(101, 201))
    assert {r["topic"] for r in content} == {"politics", "technology", "sports", "business", "entertainment"}
    assert [c for c in users[0] if c.startswith("topic_affinity_")] == [
        "topic_affinity_politics", "topic_affinity_tech", "topic_affinity_sports"]
    assert any(r["region"] == "NA" for r in users)
    assert any(r["region_restriction"] == "NA" for r in content)
    publishers = {r["publisher"] for r in content}
    lists = [r["blocklist"].split(";") for r in users if r["blocklist"]]
    assert any(len(b) > 1 for b in lists)
    assert any(set(b) & publishers for b in lists)  # the filter bites
    assert any(set(b) - publishers for b in lists)  # and some entries name nobody, as in the seed
    assert [tuple(r.values()) for r in inter[:5]] == list(seedlike.FIRST_ROWS)
    # deterministic: written again elsewhere, byte for byte the same
    again = seedlike.write(tmp_path / "again")
    assert {n: (again / n).read_bytes() for n in NAMES} == seed_files


def test_seedlike_tables_have_the_real_seeds_schema(seed_files, real_seed_dir):
    real = {n: (real_seed_dir / n).read_bytes() for n in NAMES}
    for name in NAMES:
        assert as_lines(seed_files)[name][0] == as_lines(real)[name][0], name  # same header, same order
    # the notebook's label example: the first five interaction rows are the seed's
    assert as_lines(seed_files)["Interaction.csv"][:6] == as_lines(real)["Interaction.csv"][:6]


# --- the seed folder ----------------------------------------------------------------------------


def test_seed_counts_and_na_region(seed, seed_files):
    assert (seed.n_users, seed.n_items, len(seed.interactions)) == (100, 100, 106)
    # pandas' default reader turns "NA" (North America) into a missing value; the loader must not
    users, content = raw_rows(seed_files, "Users.csv"), raw_rows(seed_files, "Content.csv")
    n_na_users = sum(r["region"] == "NA" for r in users)
    n_na_items = sum(r["region_restriction"] == "NA" for r in content)
    assert n_na_users > 0
    assert n_na_items > 0
    assert (seed.users[S.REGION] == "NA").sum() == n_na_users
    assert (seed.content[S.RESTRICTION] == "NA").sum() == n_na_items
    assert not seed.users[S.REGION].isna().any()
    assert list(seed.users[S.REGION].cat.categories) == list(S.REGIONS)
    assert list(seed.content[S.RESTRICTION].cat.categories) == ["ALL", *S.REGIONS]
    assert seed.content[S.CONTENT_ID].tolist() == list(range(101, 201))
    assert seed.name == "seed-data"
    # as in the seed: 94 users with one interaction, 6 with two
    per_user = pd.Series([r["user_id"] for r in raw_rows(seed_files, "Interaction.csv")]).value_counts()
    assert per_user.value_counts().to_dict() == {1: 94, 2: 6}


def test_real_seed_counts_and_na_region(real_seed):
    seed = real_seed
    assert (seed.n_users, seed.n_items, len(seed.interactions)) == (100, 100, 106)
    # By hand: 24 users with region NA, 26 items restricted to NA (pandas' default reader loses them).
    assert (seed.users[S.REGION] == "NA").sum() == 24
    assert (seed.content[S.RESTRICTION] == "NA").sum() == 26
    assert not seed.users[S.REGION].isna().any()
    assert list(seed.users[S.REGION].cat.categories) == list(S.REGIONS)
    assert list(seed.content[S.RESTRICTION].cat.categories) == ["ALL", *S.REGIONS]
    assert seed.content[S.CONTENT_ID].tolist() == list(range(101, 201))
    assert seed.name == "seed-data"


def test_seed_affinity_map(seed):
    assert seed.affinity == {
        "politics": "topic_affinity_politics",
        "technology": "topic_affinity_tech",
        "sports": "topic_affinity_sports",
    }


def test_seed_dtypes(seed):
    u, c, i = seed.users, seed.content, seed.interactions
    assert (u[S.USER_ID].dtype, c[S.CONTENT_ID].dtype) == (np.int64, np.int64)
    assert (u["topic_affinity_tech"].dtype, c[S.QUALITY].dtype) == (np.float32, np.float32)
    assert u[S.SESSION].dtype == np.float32
    assert i[S.DWELL].dtype == np.float64
    assert (i[S.CLICK].dtype, i[S.SHARE].dtype, i[S.HIDE].dtype, i[S.COMMENT].dtype) == (
        np.int8, np.int8, np.int8, np.int16)
    assert str(i[S.EVENT_TS].dtype) == "datetime64[ns, UTC]"
    assert str(c[S.PUBLISHED].dtype) == "datetime64[ns, UTC]"
    for col in (u[S.DEVICE], u[S.REGION], c[S.TOPIC], c[S.PUBLISHER], c[S.RESTRICTION]):
        assert isinstance(col.dtype, pd.CategoricalDtype)
    assert isinstance(i.index, pd.RangeIndex)


def test_seed_first_rows(seed, seed_files):
    # Interaction.csv line 2 (the notebook's first row, also the seed-like tables' first row)
    first = seed.interactions.iloc[0]
    assert (first[S.USER_ID], first[S.CONTENT_ID], first[S.CLICK], first[S.SHARE]) == (1, 101, 1, 0)
    assert (first[S.COMMENT], first[S.HIDE]) == (1, 0)
    assert first[S.DWELL] == 12.4  # float64, so 0.5 * 12.4 / 10 matches the notebook exactly
    assert first[S.EVENT_TS] == pd.Timestamp("2025-04-01T09:00:00Z")
    # the other tables' first rows, as the csv module reads them
    users, content = raw_rows(seed_files, "Users.csv"), raw_rows(seed_files, "Content.csv")
    for k in (0, 1):
        u = seed.users.iloc[k]
        assert (str(u[S.DEVICE]), str(u[S.REGION]), u[S.BLOCKLIST]) == (
            users[k]["device_type"], users[k]["region"], users[k]["blocklist"])
        assert u["topic_affinity_politics"] == np.float32(users[k]["topic_affinity_politics"])
    c = seed.content.iloc[0]
    assert (c[S.PUBLISHER], c[S.TOPIC], c[S.RESTRICTION]) == (
        content[0]["publisher"], content[0]["topic"], content[0]["region_restriction"])
    assert c[S.PUBLISHED] == pd.Timestamp(content[0]["publish_timestamp"])


def test_real_seed_first_rows(real_seed):
    seed = real_seed
    # Interaction.csv line 2: 1,101,1,12.4,0,1,0,2025-04-01T09:00:00Z
    first = seed.interactions.iloc[0]
    assert (first[S.USER_ID], first[S.CONTENT_ID], first[S.CLICK], first[S.SHARE]) == (1, 101, 1, 0)
    assert (first[S.COMMENT], first[S.HIDE]) == (1, 0)
    assert first[S.DWELL] == 12.4  # float64, so 0.5 * 12.4 / 10 matches the notebook exactly
    assert first[S.EVENT_TS] == pd.Timestamp("2025-04-01T09:00:00Z")
    # Users.csv rows 1-2: 1,mobile,NA,0.77,0.12,0.58,8.94,  and  2,mobile,EU,...,publisher_x
    u = seed.users
    assert (u[S.DEVICE][0], u[S.REGION][0], u[S.BLOCKLIST][0]) == ("mobile", "NA", "")
    assert u["topic_affinity_politics"][0] == np.float32(0.77)
    assert u[S.BLOCKLIST][1] == "publisher_x"
    # Content.csv row 1: 101,TheDailyNews,politics,0.9,NA,2025-04-01T08:20:00Z
    c = seed.content.iloc[0]
    assert (c[S.PUBLISHER], c[S.TOPIC], c[S.RESTRICTION]) == ("TheDailyNews", "politics", "NA")
    assert c[S.PUBLISHED] == pd.Timestamp("2025-04-01T08:20:00Z")


def test_seed_warnings(seed, seed_files):
    text = "\n".join(seed.warnings)
    users, content = raw_rows(seed_files, "Users.csv"), raw_rows(seed_files, "Content.csv")
    publishers = {r["publisher"] for r in content}
    entries = [[e for e in r["blocklist"].split(";") if e] for r in users]
    unknown = list(dict.fromkeys(e for es in entries for e in es if e not in publishers))
    assert unknown
    assert any(e in publishers for es in entries for e in es), "some blocklist names a real publisher"
    n_users = sum(any(e not in publishers for e in es) for es in entries)
    names = ", ".join(map(repr, unknown))
    assert f"column 'blocklist': entries {names} name no publisher" in text
    assert f"({n_users} users)" in text
    assert "topics 'business', 'entertainment' have no topic_affinity_* column" in text
    # events before their item's publication, by hand (same ISO format: text order is time order)
    published = {r["content_id"]: r["publish_timestamp"] for r in content}
    early = [str(k) for k, r in enumerate(raw_rows(seed_files, "Interaction.csv"), start=1)
             if r["event_timestamp"] < published[r["content_id"]]]
    assert early
    assert (f"Interaction.csv, column 'event_timestamp', rows {', '.join(early)}: {len(early)} event(s) before"
            in text)
    assert len(seed.warnings) == 3


def test_real_seed_warnings(real_seed):
    seed = real_seed
    text = "\n".join(seed.warnings)
    # 15 'publisher_x' + 11 'source_y' + 3 'publisher_x;source_y' = 29 users; no publisher has these names.
    assert "column 'blocklist': entries 'publisher_x', 'source_y' name no publisher" in text
    assert "(29 users)" in text
    assert "topics 'business', 'entertainment' have no topic_affinity_* column" in text
    # Rows 2, 7, 11: 108 at 10:45 (published 16:25), 110 at 13:30 (17:55), 102 at 09:25 (09:45).
    assert "Interaction.csv, column 'event_timestamp', rows 2, 7, 11: 3 event(s) before" in text
    assert len(seed.warnings) == 3


@pytest.mark.parametrize(("eol", "bom"), [("\n", True), ("\r\n", True), ("\r", False), ("\n", False)])
def test_line_endings_and_bom_load_identically(seed, seed_files, eol, bom):
    files = {n: encode(lines, eol=eol, bom=bom) for n, lines in as_lines(seed_files).items()}
    frames_equal(data.load_uploaded(files), seed)


def test_upload_equals_folder(seed, seed_files):
    up = data.load_uploaded(seed_files)
    frames_equal(up, seed)
    assert up.warnings == seed.warnings
    assert up.name == "upload"


def test_names_match_ignoring_case_and_folders(seed, seed_files):
    files = dict(zip(("../x/USERS.CSV", "content.csv", "interactions.csv"), seed_files.values(), strict=True))
    ds = data.load_uploaded({**files, "notes.txt": b"hi"})
    frames_equal(ds, seed)
    assert "ignored uploaded file(s) 'notes.txt'" in ds.warnings


def test_shuffled_columns_and_extra_column(seed, seed_files):
    lines = as_lines(seed_files)
    inter = [line.split(",") for line in lines["Interaction.csv"]]
    lines["Interaction.csv"] = [",".join(reversed(p)) for p in inter]
    users = lines["Users.csv"]
    lines["Users.csv"] = [f"{'note' if k == 0 else f'n{k}'},{line}" for k, line in enumerate(users)]
    ds = data.load_uploaded({n: encode(v) for n, v in lines.items()})
    pd.testing.assert_frame_equal(ds.interactions[list(seed.interactions.columns)], seed.interactions)
    pd.testing.assert_frame_equal(ds.users.drop(columns="note"), seed.users)
    assert ds.users["note"].tolist()[:2] == ["n1", "n2"]
    assert "Users.csv: extra column(s) 'note' kept but not used" in ds.warnings


def test_warnings_do_not_stop_loading(seed_files):
    lines = as_lines(seed_files)
    lines["Interaction.csv"].append(lines["Interaction.csv"][1])  # row 107 repeats row 1's pair
    cell(lines["Users.csv"], 5, S.DEVICE, "smartwatch")
    ds = data.load_uploaded({n: encode(v) for n, v in lines.items()})
    assert len(ds.interactions) == 107
    assert "Interaction.csv, row 107: 1 row(s) repeat an earlier (user_id, content_id) pair" in "\n".join(
        ds.warnings)
    assert any("column 'device_type', row 5: unusual values" in w for w in ds.warnings)
    assert any("(got 'smartwatch')" in w for w in ds.warnings)
    assert ds.users[S.DEVICE][4] == "smartwatch"


def test_timestamps_accept_offsets_and_dates(seed_files):
    lines = as_lines(seed_files)
    cell(lines["Content.csv"], 1, S.PUBLISHED, "2025-04-01T10:20:00+02:00")
    cell(lines["Content.csv"], 2, S.PUBLISHED, "2025-04-01")
    ds = data.load_uploaded({n: encode(v) for n, v in lines.items()})
    assert ds.content[S.PUBLISHED][0] == pd.Timestamp("2025-04-01T08:20:00Z")
    assert ds.content[S.PUBLISHED][1] == pd.Timestamp("2025-04-01T00:00:00Z")


@pytest.mark.parametrize(
    ("columns", "expected", "warning"),
    [
        (["topic_affinity_Politics"], {"politics": "topic_affinity_Politics"}, None),
        (["topic_affinity_sport"], {"sports": "topic_affinity_sport"}, None),
        (["topic_affinity_tech", "topic_affinity_technology"], {"technology": "topic_affinity_technology"},
         "'topic_affinity_technology' and 'topic_affinity_tech' both match topic 'technology'"),
        (["topic_affinity_cooking"], {}, "column 'topic_affinity_cooking': matches no content topic"),
        (["topic_affinity_e"], {"entertainment": "topic_affinity_e"}, None),
    ],
)
def test_affinity_rule(seed_files, columns, expected, warning):
    lines = as_lines(seed_files)
    drop_col(lines["Users.csv"], "topic_affinity_politics")
    drop_col(lines["Users.csv"], "topic_affinity_sports")
    rename_col(lines["Users.csv"], "topic_affinity_tech", columns[0])
    for extra in columns[1:]:
        users = lines["Users.csv"]
        lines["Users.csv"] = [f"{line},{extra if k == 0 else '0.5'}" for k, line in enumerate(users)]
    ds = data.load_uploaded({n: encode(v) for n, v in lines.items()})
    assert ds.affinity == expected
    if warning:
        assert any(warning in w for w in ds.warnings)


# --- the malformed-input corpus -----------------------------------------------------------------

U, C, I = NAMES  # noqa: E741


def _latin1(t):
    cell(t[C], 5, S.PUBLISHER, "Café")
    return {C: encode(t[C], bom=False, encoding="latin-1")}


def _truth(t, rows, header="user_id,content_id,p_click,e_dwell,p_share,e_comment,p_hide"):
    t["truth.csv"] = [header, *rows]


def add_col(lines: list[str], col: str, values) -> None:
    """Append a column; ``values`` gives data row n its value at index n − 1 (blank lines stay blank)."""
    lines[0] += "," + col
    for n in range(1, len(lines)):
        if lines[n]:
            lines[n] += "," + str(values[n - 1])


def _slates(t, position=None, propensity=None):
    n = len(t[I]) - 1
    add_col(t[I], S.POSITION, position or [1 + j % 10 for j in range(n)])
    add_col(t[I], S.PROPENSITY, propensity or [0.25] * n)


CASES = [
    ("missing_users_file", lambda t: t.pop(U), ["missing the users table: no file named users.csv"]),
    ("missing_interactions_file", lambda t: t.pop(I), ["no file named interaction.csv or interactions.csv"]),
    ("two_interaction_files", lambda t: t.update({"interactions.csv": t[I]}),
     ["files 'Interaction.csv', 'interactions.csv' all match the interactions table; keep only one"]),
    ("empty_content_file", lambda t: t.update({C: []}), ["Content.csv: the file is empty"]),
    ("header_only_interactions", lambda t: t.update({I: t[I][:1]}), ["Interaction.csv: no data rows"]),
    ("header_only_users", lambda t: t.update({U: t[U][:1]}), ["Users.csv: no data rows"]),
    ("not_utf8", _latin1, ["Content.csv: not UTF-8 text", "in row 5", "0xe9"]),
    ("wrong_field_count", lambda t: t[I].__setitem__(3, t[I][3] + ",9"),
     ["Interaction.csv, row 3: wrong number of fields: the header has 8, these rows have 9"]),
    ("open_quote", lambda t: cell(t[C], 5, S.PUBLISHER, '"DigiTrends'),
     ["Content.csv, row 5: a quoted value runs over 96 lines"]),
    ("missing_column", lambda t: drop_col(t[I], S.DWELL),
     ["Interaction.csv: missing required column(s) 'dwell_time'; found 'user_id', 'content_id'"]),
    ("column_name_case", lambda t: rename_col(t[C], S.TOPIC, "Topic"),
     ["Content.csv: missing required column(s) 'topic'", "case-sensitive: 'Topic' differs"]),
    ("duplicate_column", lambda t: rename_col(t[U], "topic_affinity_sports", "topic_affinity_politics"),
     ["Users.csv: duplicate column names 'topic_affinity_politics'"]),
    ("no_affinity_column", lambda t: [drop_col(t[U], c) for c in t[U][0].split(",") if "affinity" in c],
     ["Users.csv: no 'topic_affinity_<topic>' column"]),
    ("dwell_not_numeric", lambda t: cell(t[I], 4, S.DWELL, "abc"),
     ["Interaction.csv, column 'dwell_time', row 4: values must be numbers (got 'abc')"]),
    ("dwell_empty", lambda t: cell(t[I], 8, S.DWELL, ""),
     ["Interaction.csv, column 'dwell_time', row 8: empty cells; a value is required"]),
    ("dwell_negative", lambda t: cell(t[I], 5, S.DWELL, "-1.5"),
     ["Interaction.csv, column 'dwell_time', row 5: values must be >= 0 (got '-1.5')"]),
    ("click_not_binary", lambda t: (cell(t[I], 3, S.CLICK, "2"), cell(t[I], 9, S.CLICK, "x")),
     ["Interaction.csv, column 'click', rows 3, 9: values must be 0 or 1 (got '2', 'x')"]),
    ("share_fraction", lambda t: cell(t[I], 1, S.SHARE, "0.5"),
     ["Interaction.csv, column 'share', row 1: values must be 0 or 1 (got '0.5')"]),
    ("hide_negative_last_row", lambda t: cell(t[I], 106, S.HIDE, "-1"),
     ["Interaction.csv, column 'hide', row 106: values must be 0 or 1 (got '-1')"]),
    ("comment_fraction_or_negative",
     lambda t: (cell(t[I], 2, S.COMMENT, "1.5"), cell(t[I], 6, S.COMMENT, "-1")),
     ["Interaction.csv, column 'comment', rows 2, 6: whole numbers must be between 0 and 32767",
      "(got '1.5', '-1')"]),
    ("duplicate_user_id", lambda t: cell(t[U], 2, S.USER_ID, "1"),
     ["Users.csv, column 'user_id', rows 1, 2: duplicate ids (got '1')"]),
    ("duplicate_content_id", lambda t: cell(t[C], 100, S.CONTENT_ID, "101"),
     ["Content.csv, column 'content_id', rows 1, 100: duplicate ids (got '101')"]),
    ("fractional_content_id", lambda t: cell(t[C], 3, S.CONTENT_ID, "103.5"),
     ["Content.csv, column 'content_id', row 3: ids must be whole numbers", "(got '103.5')"]),
    ("unknown_user", lambda t: cell(t[I], 6, S.USER_ID, "999"),
     ["Interaction.csv, column 'user_id', row 6: ids not found in Users.csv (got '999')"]),
    ("unknown_content", lambda t: cell(t[I], 10, S.CONTENT_ID, "5000"),
     ["Interaction.csv, column 'content_id', row 10: ids not found in Content.csv (got '5000')"]),
    ("bad_publish_timestamp", lambda t: cell(t[C], 7, S.PUBLISHED, "yesterday"),
     ["Content.csv, column 'publish_timestamp', row 7: values must be ISO 8601", "(got 'yesterday')"]),
    ("bad_event_timestamp", lambda t: cell(t[I], 12, S.EVENT_TS, "2025-13-01T00:00:00Z"),
     ["Interaction.csv, column 'event_timestamp', row 12", "(got '2025-13-01T00:00:00Z')"]),
    ("event_timestamp_out_of_range", lambda t: cell(t[I], 13, S.EVENT_TS, "3000-01-01"),
     ["Interaction.csv, column 'event_timestamp', row 13: times must fall between 1678 and 2261"]),
    ("quality_above_one", lambda t: cell(t[C], 2, S.QUALITY, "1.2"),
     ["Content.csv, column 'quality_score', row 2: values must be between 0 and 1 (got '1.2')"]),
    ("affinity_below_zero", lambda t: cell(t[U], 8, "topic_affinity_tech", "-0.1"),
     ["Users.csv, column 'topic_affinity_tech', row 8: values must be between 0 and 1 (got '-0.1')"]),
    ("session_not_numeric", lambda t: cell(t[U], 3, S.SESSION, "long"),
     ["Users.csv, column 'avg_session_length', row 3: values must be numbers (got 'long')"]),
    ("region_unknown", lambda t: cell(t[U], 4, S.REGION, "XX"),
     ["Users.csv, column 'region', row 4: values must be one of NA, EU, AS, SA, AF, OC (got 'XX')"]),
    ("region_empty", lambda t: cell(t[U], 1, S.REGION, ""),
     ["Users.csv, column 'region', row 1: empty cells; a value is required"]),
    ("restriction_unknown", lambda t: cell(t[C], 9, S.RESTRICTION, "WORLD"),
     ["Content.csv, column 'region_restriction', row 9: values must be one of ALL, NA", "(got 'WORLD')"]),
    ("truth_out_of_range", lambda t: _truth(t, ["1,101,0.5,3,0.1,0.2,0.05", "2,101,1.5,3,0.1,0.2,0.05"]),
     ["truth.csv, column 'p_click', row 2: values must be between 0 and 1 (got '1.5')"]),
    ("truth_negative_dwell", lambda t: _truth(t, ["1,101,0.5,-3,0.1,0.2,0.05"]),
     ["truth.csv, column 'e_dwell', row 1: values must be >= 0 (got '-3')"]),
    ("truth_unknown_user", lambda t: _truth(t, ["1,101,0.5,3,0.1,0.2,0.05", "999,101,0.1,3,0.1,0.2,0.05"]),
     ["truth.csv, column 'user_id', row 2: ids not found in the users table (got '999')"]),
    ("truth_old_generator", lambda t: _truth(t, ["1,101,0.5"], header="user_id,content_id,p_engage"),
     ["truth.csv: missing required column(s) 'p_click'", "older generator; regenerate the world"]),
    ("world_json_old_generator", lambda t: t.update({"world.json": ['{"generator_version": 1, "seed": 0}']}),
     ["world.json: this world was made by generator version 1", "Regenerate the world"]),
    ("position_zero", lambda t: _slates(t, position=[0] + [1] * 105),
     ["Interaction.csv, column 'position', row 1: whole numbers must be >= 1 (got '0')"]),
    ("position_fraction", lambda t: _slates(t, position=[1, 2, 2.5] + [1] * 103),
     ["Interaction.csv, column 'position', row 3: whole numbers must be >= 1 (got '2.5')"]),
    ("propensity_zero", lambda t: _slates(t, propensity=[0.5] * 4 + [0] + [0.5] * 101),
     ["Interaction.csv, column 'propensity', row 5: values must be > 0", "(got '0')"]),
    ("propensity_above_one", lambda t: _slates(t, propensity=[0.5] * 6 + [1.2] + [0.5] * 99),
     ["Interaction.csv, column 'propensity', row 7: values must be between 0 and 1 (got '1.2')"]),
    ("propensity_text", lambda t: _slates(t, propensity=[0.5] * 9 + ["high"] + [0.5] * 96),
     ["Interaction.csv, column 'propensity', row 10: values must be numbers (got 'high')"]),
    ("world_json_not_object", lambda t: t.update({"world.json": ["[1, 2]"]}),
     ["world.json: must hold a JSON object, got list"]),
    ("world_json_invalid", lambda t: t.update({"world.json": ["{oops"]}),
     ["world.json: not valid UTF-8 JSON"]),
]


@pytest.mark.parametrize(("mutate", "expected"), [pytest.param(m, e, id=i) for i, m, e in CASES])
def test_malformed_input_is_reported(seed_files, mutate, expected):
    lines = as_lines(seed_files)
    raw = mutate(lines)
    files = {n: encode(v) for n, v in lines.items()}
    files.update(raw if isinstance(raw, dict) and all(isinstance(v, bytes) for v in raw.values()) else {})
    with pytest.raises(DataError) as err:
        data.load_uploaded(files)
    hits = [p for p in err.value.problems if all(part in p for part in expected)]
    assert hits, f"no problem contains {expected}; got {err.value.problems}"


def test_not_utf8_gives_byte_offset(seed_files):
    lines = as_lines(seed_files)
    raw = _latin1(lines)[C]
    offset = raw.index("é".encode("latin-1"))
    with pytest.raises(DataError) as err:
        data.load_uploaded({**seed_files, C: raw})
    assert f"byte {offset} (0xe9, in row 5)" in err.value.problems[0]


def test_all_problems_reported_at_once(seed_files):
    t = as_lines(seed_files)
    cell(t[I], 3, S.CLICK, "x")
    cell(t[I], 6, S.USER_ID, "999")
    t[I][9] += ",1"
    drop_col(t[C], S.QUALITY)
    cell(t[U], 4, S.REGION, "XX")
    with pytest.raises(DataError) as err:
        data.load_uploaded({n: encode(v) for n, v in t.items()})
    problems = err.value.problems
    expected = [
        "Users.csv, column 'region', row 4: values must be one of",
        "Content.csv: missing required column(s) 'quality_score'",
        "Interaction.csv, row 9: wrong number of fields",
        "Interaction.csv, column 'click', row 3: values must be 0 or 1 (got 'x')",
        "Interaction.csv, column 'user_id', row 6: ids not found in Users.csv (got '999')",
    ]
    for e in expected:
        assert any(e in p for p in problems), e
    assert len(problems) == len(expected)
    assert any("blocklist" in w for w in err.value.warnings)  # warnings travel with the error
    assert str(err.value).startswith("5 problem(s) in the input data:")


def test_long_row_lists_are_capped(seed_files):
    t = as_lines(seed_files)
    for row in range(1, 107):
        cell(t[I], row, S.CLICK, "x")
    with pytest.raises(DataError) as err:
        data.load_uploaded({n: encode(v) for n, v in t.items()})
    assert "column 'click', rows 1, 2, 3, 4, 5, 6, 7, 8 … (+98 more): values must be 0 or 1 (got 'x')" in str(
        err.value)


def test_blank_lines_count_as_rows(seed_files):
    t = as_lines(seed_files)
    t[I].insert(3, "")  # the old row 3 is now line 4 after the header
    cell(t[I], 5, S.CLICK, "7")
    with pytest.raises(DataError, match=r"column 'click', row 5: "):
        data.load_uploaded({n: encode(v) for n, v in t.items()})


def test_missing_folder_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        data.load_dataset(tmp_path / "nope")


# --- from_frames: typed frames, as the world generator passes them --------------------------------


def test_from_frames_accepts_typed_frames(seed):
    again = data.from_frames(seed.users, seed.content, seed.interactions, name="again")
    frames_equal(again, seed)


def test_from_frames_reports_positions_as_rows(seed):
    inter = seed.interactions.copy()
    inter[S.CLICK] = inter[S.CLICK].astype(np.int64)
    inter.loc[2, S.CLICK] = 5
    with pytest.raises(DataError, match=r"Interaction.csv, column 'click', row 3: values must be 0 or 1"):
        data.from_frames(seed.users, seed.content, inter)


# --- writing ------------------------------------------------------------------------------------


def test_write_tables_reproduces_the_seed_bytes(seed, seed_files, tmp_path):
    data.write_tables(tmp_path, seed.users, seed.content, seed.interactions)
    for name, lines in as_lines(seed_files).items():
        # The seed's text minus BOM and CR line ends: "NA" stays, 0.77 has no float32 noise, 15 stays 15.
        assert (tmp_path / name).read_bytes() == encode(lines, eol="\n", bom=False) + b"\n", name


def test_optional_columns_load_when_present_and_are_not_required(seed, seed_files):
    t = as_lines(seed_files)
    _slates(t)
    add_col(t[C], S.TITLE, [f'"Publisher{j}: a headline, with a comma"' for j in range(len(t[C]) - 1)])
    ds = data.load_uploaded({n: encode(v) for n, v in t.items()})
    assert ds.warnings == seed.warnings  # known optional columns are not "extra"
    assert ds.interactions[S.POSITION].tolist()[:3] == [1, 2, 3]
    assert ds.interactions[S.PROPENSITY].iloc[0] == 0.25
    assert ds.content[S.TITLE].iloc[0] == "Publisher0: a headline, with a comma"
    assert S.POSITION not in seed.interactions  # and the seed, without them, loads as before


def test_write_then_read_round_trip(seed, tmp_path):
    values = {name: np.array([0.123456, 1.0], dtype=np.float32) for name in S.SIGNALS}
    values[S.E_DWELL] = np.array([12.5, 0.0], dtype=np.float32)
    truth = pd.DataFrame({S.USER_ID: [1, 2], S.CONTENT_ID: [101, 200], **values})
    spec = {"seed": 7, "n_users": 100, "alpha": np.float64(0.5)}
    data.write_tables(tmp_path, seed.users, seed.content, seed.interactions, truth=truth, spec=spec)
    first = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    data.write_tables(tmp_path, seed.users, seed.content, seed.interactions, truth=truth, spec=spec)
    assert first == {p.name: p.read_bytes() for p in tmp_path.iterdir()}  # deterministic bytes
    assert (tmp_path / "truth.csv").read_text() == ("user_id,content_id,p_click,e_dwell,p_share,e_comment,p_hide\n"
                                                    "1,101,0.123456,12.5,0.123456,0.123456,0.123456\n"
                                                    "2,200,1,0,1,1,1\n")
    assert (tmp_path / "world.json").read_text() == '{\n  "alpha": 0.5,\n  "n_users": 100,\n  "seed": 7\n}\n'

    back = data.load_dataset(tmp_path)
    frames_equal(back, seed)
    assert (back.users[S.REGION] == "NA").sum() == (seed.users[S.REGION] == "NA").sum() > 0
    assert back.spec == {"seed": 7, "n_users": 100, "alpha": 0.5}
    sig = back.truth.signals(np.arange(100))
    for name in S.SIGNALS:
        m = sig[name]
        assert m.shape == (100, 100)
        assert m.dtype == np.float32
        assert (m[0, 0], m[1, 99]) == (values[name][0], values[name][1])  # bit-identical float32
        assert np.isnan(m).sum() == 100 * 100 - 2


def test_world_json_truth_is_lazy(seed, tmp_path, monkeypatch):
    calls = []

    def truth_from_spec(spec, dataset):
        calls.append(spec)
        return np.full((dataset.n_users, dataset.n_items), 0.25)

    monkeypatch.setattr("ranking.data.io.truth_from_spec", truth_from_spec)
    data.write_tables(tmp_path, seed.users, seed.content, seed.interactions, spec={"seed": 1})
    ds = data.load_dataset(tmp_path)
    assert ds.spec == {"seed": 1}
    assert not calls
    assert ds.truth.rows(np.array([0, 5])).shape == (2, 100)
    ds.truth.rows(np.array([1]))
    assert calls == [{"seed": 1}]


def test_write_csv_formats(tmp_path):
    df = pd.DataFrame({
        "f32": np.array([0.1, np.nan], dtype=np.float32),
        "f64": [0.1 + 0.2, 15.0],
        "flag": [True, False],
        "when": pd.to_datetime(["2025-04-01 08:20:00+02:00", None], utc=True),
        "region": pd.Categorical(["NA", None]),
    })
    data.write_csv(tmp_path / "x.csv", df)
    assert (tmp_path / "x.csv").read_bytes() == (
        b"f32,f64,flag,when,region\n0.1,0.30000000000000004,1,2025-04-01T06:20:00Z,NA\n,15,0,,\n")


def test_write_csv_in_chunks_writes_the_same_bytes(tmp_path, monkeypatch):
    from ranking.data import formats as data_io

    df = pd.DataFrame({"a": np.arange(7), "b": [0.5, np.nan, 1.25, 2.0, 3.0, 4.0, 5.0], "c": list("xyz,\"qw")})
    data.write_csv(tmp_path / "one.csv", df)
    monkeypatch.setattr(data_io, "WRITE_CHUNK", 3)
    data.write_csv(tmp_path / "chunks.csv", df)
    data.write_csv(tmp_path / "empty.csv", df.iloc[:0])
    assert (tmp_path / "chunks.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
    assert (tmp_path / "chunks.csv").read_bytes().count(b"a,b,c") == 1
    assert (tmp_path / "empty.csv").read_bytes() == b"a,b,c\n"
    assert not list(tmp_path.glob("*.tmp"))


def test_write_labelled_rounds_the_score(tmp_path):
    df = pd.DataFrame({S.USER_ID: [1], S.SCORE: [1.0 + 0.5 * 12.4 / 10 + 1.0], S.LABEL: [1]})
    data.write_labelled(tmp_path / "labelled.csv", df)
    assert (tmp_path / "labelled.csv").read_text() == "user_id,engagement_score,label\n1,2.62,1\n"


def test_json_round_trip(tmp_path):
    data.write_json(tmp_path / "a.json", {"b": [1, 2], "a": np.int64(3)})
    assert data.read_json(tmp_path / "a.json") == {"a": 3, "b": [1, 2]}
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(DataError, match=r"bad\.json: not valid"):
        data.read_json(tmp_path / "bad.json")


def test_json_is_exact_text(tmp_path):
    data.write_json(tmp_path / "a.json", {"z": 1, "a": {"y": 2, "b": 3}})
    assert json.loads((tmp_path / "a.json").read_text()) == {"a": {"b": 3, "y": 2}, "z": 1}
    assert (tmp_path / "a.json").read_text().startswith('{\n  "a": {\n    "b": 3')
