"""`python -m ranking`: the headless commands, run as a user would (subprocesses) where it matters.

Expected numbers come from the formula computed here on the raw CSV text, not from the library.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from ranking import cli

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("stage1", "stage2", "stage3", "final")
SMALL_CONFIG = {"stage2": {"n_estimators": 50}, "stage3": {"epochs": 3}}


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`python -m ranking ARGS` in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_WAIT_POLICY": "PASSIVE", "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-m", "ranking", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600, check=False)


def main_quiet(argv: list[str]) -> tuple[int, str, str]:
    """`ranking.cli.main` in this process, with its stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(argv)
    return rc, out.getvalue(), err.getvalue()


def strict_json(text: str):
    """json.loads that refuses NaN and ±Infinity (which json.loads accepts by default)."""
    def refuse(constant: str):
        raise ValueError(f"{constant} in JSON")
    return json.loads(text, parse_constant=refuse)


def read_rows(path: Path) -> list[dict[str, str]]:
    """A CSV as text rows (BOM and CR-only line endings allowed), with the csv module."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


# ---------------------------------------------------------------- label


def expected_scores(rows: list[dict[str, str]], content: list[dict[str, str]], *, w=(1.0, 0.5, 2.0, 1.0, 1.0),
                    dwell: float | str = 10.0, comment_mode: str = "count") -> list[float]:
    """The compound engagement score, straight from the formula on the raw text."""
    d = [float(r["dwell_time"]) for r in rows]
    if dwell == "median":
        norm = [statistics.median(d)] * len(rows)
    elif dwell == "per_topic":
        topic = {c["content_id"]: c["topic"] for c in content}
        by_topic: dict[str, list[float]] = {}
        for r, x in zip(rows, d, strict=True):
            by_topic.setdefault(topic[r["content_id"]], []).append(x)
        norm = [statistics.median(by_topic[topic[r["content_id"]]]) or 1.0 for r in rows]
    else:
        norm = [float(dwell)] * len(rows)
    out = []
    for r, x, n in zip(rows, d, norm, strict=True):
        comment = float(r["comment"]) if comment_mode == "count" else float(float(r["comment"]) > 0)
        out.append(w[0] * float(r["click"]) + w[1] * x / n + w[2] * float(r["share"]) + w[3] * comment
                   - w[4] * float(r["hide"]))
    return out


@pytest.fixture(scope="module")
def seed_rows(seed_dir) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    return read_rows(seed_dir / "Interaction.csv"), read_rows(seed_dir / "Content.csv")


def test_label_writes_the_notebook_scores_in_input_order(seed_dir, seed_rows, tmp_path):
    out = tmp_path / "x.csv"
    res = run_cli("label", "--data", os.path.relpath(seed_dir, ROOT), "--out", out)  # a relative path, as typed
    assert res.returncode == 0, res.stderr
    raw, content = seed_rows
    n_positive = sum(s > 2.0 for s in expected_scores(raw, content))
    assert 0 < n_positive < len(raw)
    assert f"{n_positive} positive" in res.stdout
    got = read_rows(out)
    assert len(got) == len(raw) == 106
    assert {"engagement_score", "label"} <= set(got[0])
    key = ("user_id", "content_id", "event_timestamp")
    assert [tuple(r[k] for k in key[:2]) for r in got] == [tuple(r[k] for k in key[:2]) for r in raw]
    texts = [r["engagement_score"] for r in got]
    assert [float(t) for t in texts[:5]] == [2.62, 3.75, 1.255, -1.0, 0.16]
    assert texts[:3] == ["2.62", "3.75", "1.255"]  # no float noise such as 2.6199999999999997
    assert sum(int(r["label"]) for r in got) == n_positive


def test_label_on_the_real_seed_tables_gives_the_notebooks_37_positives(real_seed_dir, tmp_path):
    rc, out, _ = main_quiet(["label", "--data", str(real_seed_dir), "--out", str(tmp_path / "x.csv")])
    assert rc == 0
    assert "37 positive" in out
    got = read_rows(tmp_path / "x.csv")
    assert len(got) == 106
    assert [float(r["engagement_score"]) for r in got[:5]] == [2.62, 3.75, 1.255, -1.0, 0.16]
    assert sum(int(r["label"]) for r in got) == 37


@pytest.mark.parametrize(("options", "kwargs", "threshold"), [
    (["--w-share", "0", "--threshold", "1"], {"w": (1.0, 0.5, 0.0, 1.0, 1.0)}, 1.0),
    (["--expected-dwell", "median"], {"dwell": "median"}, 2.0),
    (["--expected-dwell", "per_topic"], {"dwell": "per_topic"}, 2.0),
    (["--comment-mode", "indicator"], {"comment_mode": "indicator"}, 2.0),
    (["--w-click", "0.5", "--w-hide", "3", "--expected-dwell", "5", "--threshold", "0.5"],
     {"w": (0.5, 0.5, 2.0, 1.0, 3.0), "dwell": 5.0}, 0.5),
])
def test_label_options_change_the_output_as_the_formula_says(seed_dir, seed_rows, tmp_path, options, kwargs,
                                                             threshold):
    raw, content = seed_rows
    rc, out, _ = main_quiet(["label", "--data", str(seed_dir), "--out", str(tmp_path / "x.csv"), *options])
    assert rc == 0
    got = read_rows(tmp_path / "x.csv")
    want = expected_scores(raw, content, **kwargs)
    assert [float(r["engagement_score"]) for r in got] == pytest.approx(want, abs=1e-6)
    assert [int(r["label"]) for r in got] == [int(s > threshold) for s in want]
    assert want != pytest.approx(expected_scores(raw, content), abs=1e-9)  # the option really matters here
    assert f"{sum(s > threshold for s in want)} positive" in out


def test_label_rejects_a_bad_expected_dwell(seed_dir, tmp_path):
    rc, _, err = main_quiet(["label", "--data", str(seed_dir), "--out", str(tmp_path / "x.csv"),
                             "--expected-dwell", "fast"])
    assert rc == 2
    assert "expected_dwell" in err
    assert not (tmp_path / "x.csv").exists()


# ---------------------------------------------------------------- validate


def test_validate_json_prints_one_object(seed_dir):
    res = run_cli("validate", "--data", seed_dir, "--json")
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("\n") == 1  # exactly one line: one JSON object, nothing else
    summary = strict_json(res.stdout)
    users, content = read_rows(seed_dir / "Users.csv"), read_rows(seed_dir / "Content.csv")
    assert summary["users"]["rows"] == len(users) == 100
    assert {k: v for k, v in summary["users"]["region"].items() if v} == dict(Counter(r["region"] for r in users))
    assert summary["users"]["region"]["NA"] > 0
    assert summary["content"]["rows"] == len(content) == 100
    assert summary["content"]["topic"] == dict(Counter(r["topic"] for r in content))
    assert len(summary["content"]["topic"]) == 5
    restriction = Counter(r["region_restriction"] for r in content)
    assert {k: v for k, v in summary["content"]["region_restriction"].items() if v} == dict(restriction)
    assert summary["interactions"]["rows"] == len(read_rows(seed_dir / "Interaction.csv")) == 106
    assert summary["has_truth"] is False
    assert "Traceback" not in res.stderr


def test_validate_json_on_the_real_seed_tables(real_seed_dir):
    rc, out, err = main_quiet(["validate", "--data", str(real_seed_dir), "--json"])
    assert rc == 0
    summary = strict_json(out)
    assert summary["users"]["rows"] == 100
    assert summary["users"]["region"]["NA"] == 24  # North America, not a missing value
    assert summary["content"]["rows"] == 100
    assert summary["content"]["topic"] == {"business": 18, "entertainment": 14, "politics": 21, "sports": 22,
                                           "technology": 25}
    assert summary["content"]["region_restriction"]["NA"] == 26
    assert summary["interactions"]["rows"] == 106
    assert summary["has_truth"] is False
    assert "Traceback" not in err


def test_validate_prints_a_human_summary(seed_dir):
    rc, out, err = main_quiet(["validate", "--data", str(seed_dir)])
    assert rc == 0
    assert "valid" in out
    assert "100 users, 100 items, 106 interactions" in out
    n_na = sum(r["region"] == "NA" for r in read_rows(seed_dir / "Users.csv"))
    assert f"'NA': {n_na}" in out
    assert "warning: " in err  # some blocklist entries name no publisher: said, not fatal
    assert "'publisher_x'" in err


# ---------------------------------------------------------------- malformed data

USERS = [["user_id", "device_type", "region", "topic_affinity_politics", "topic_affinity_tech",
          "topic_affinity_sports", "avg_session_length", "blocklist"],
         ["1", "mobile", "NA", "0.5", "0.2", "0.1", "12.5", ""],
         ["2", "desktop", "EU", "0.1", "0.9", "0.3", "8.0", "publisher_x"],
         ["3", "tablet", "AS", "0.3", "0.3", "0.8", "20.0", ""]]
CONTENT = [["content_id", "publisher", "topic", "quality_score", "region_restriction", "publish_timestamp"],
           ["101", "Daily", "politics", "0.8", "ALL", "2025-04-01T08:00:00Z"],
           ["102", "Tech Times", "technology", "0.6", "NA", "2025-04-01T08:30:00Z"],
           ["103", "Sporty", "sports", "0.7", "EU", "2025-04-01T09:00:00Z"]]
INTER = [["user_id", "content_id", "click", "dwell_time", "share", "comment", "hide", "event_timestamp"],
         ["1", "101", "1", "12.4", "0", "1", "0", "2025-04-01T09:00:00Z"],
         ["1", "102", "1", "15", "1", "0", "0", "2025-04-01T10:45:00Z"],
         ["2", "101", "1", "5.1", "0", "0", "0", "2025-04-01T09:10:00Z"],
         ["3", "103", "0", "0", "0", "0", "1", "2025-04-01T13:05:00Z"]]


def csv_bytes(rows: list[list[str]], eol: str = "\n") -> bytes:
    return "".join(",".join(r) + eol for r in rows).encode("utf-8")


def edited(rows: list[list[str]], row: int, col: str, value: str) -> list[list[str]]:
    """A copy with data row ``row`` (1-based) of column ``col`` set to ``value``."""
    out = [list(r) for r in rows]
    out[row][rows[0].index(col)] = value
    return out


def dropped(rows: list[list[str]], col: str) -> list[list[str]]:
    i = rows[0].index(col)
    return [r[:i] + r[i + 1:] for r in rows]


def tiny_folder(folder: Path, **files: bytes | None) -> Path:
    """A valid three-table folder; keyword arguments replace (bytes) or remove (None) a file."""
    folder.mkdir(parents=True)
    tables = {"Users.csv": csv_bytes(USERS), "Content.csv": csv_bytes(CONTENT), "Interaction.csv": csv_bytes(INTER)}
    for name, data in {**tables, **{k.replace("_", "."): v for k, v in files.items()}}.items():
        if data is not None:
            (folder / name).write_bytes(data)
    return folder


MALFORMED = {  # name: (files, fragments the message must hold, run as a subprocess?)
    "missing file": ({"Content_csv": None}, ["missing", "content.csv"], True),
    "bad click": ({"Interaction_csv": csv_bytes(edited(INTER, 1, "click", "7"))},
                  ["Interaction.csv", "'click'", "row 1", "0 or 1", "'7'"], True),
    "non-UTF-8 bytes": ({"Content_csv": csv_bytes(CONTENT).replace(b"Sporty", b"Sp\xf6rty")},
                        ["Content.csv", "UTF-8", "0xf6", "row 3"], True),
    "unknown user": ({"Interaction_csv": csv_bytes(edited(INTER, 4, "user_id", "9"))},
                     ["Interaction.csv", "'user_id'", "row 4", "Users.csv", "'9'"], False),
    "empty file": ({"Users_csv": b""}, ["Users.csv", "empty"], False),
    "missing column": ({"Interaction_csv": csv_bytes(dropped(INTER, "hide"))},
                       ["Interaction.csv", "missing", "'hide'"], False),
    "duplicate id": ({"Users_csv": csv_bytes([*USERS, ["3", "mobile", "EU", "0.1", "0.1", "0.1", "5", ""]])},
                     ["Users.csv", "'user_id'", "rows 3, 4", "duplicate"], False),
    "bad timestamp": ({"Interaction_csv": csv_bytes(edited(INTER, 4, "event_timestamp", "yesterday"))},
                      ["Interaction.csv", "'event_timestamp'", "row 4", "ISO 8601", "'yesterday'"], False),
    "negative dwell": ({"Interaction_csv": csv_bytes(edited(INTER, 3, "dwell_time", "-5.1"))},
                       ["Interaction.csv", "'dwell_time'", "row 3", "'-5.1'"], False),
    "header only": ({"Interaction_csv": csv_bytes(INTER[:1])}, ["Interaction.csv", "no data rows"], False),
    "unknown region": ({"Users_csv": csv_bytes(edited(USERS, 2, "region", "Mars"))},
                       ["Users.csv", "'region'", "row 2", "'Mars'"], False),
    "ragged row": ({"Content_csv": csv_bytes(CONTENT).replace(b"Tech Times", b"Tech, Times")},
                   ["Content.csv", "row 2", "wrong number of fields"], False),
}


def test_the_tiny_folder_is_valid_with_bom_and_cr_line_endings(tmp_path):
    bom_cr = {k: b"\xef\xbb\xbf" + csv_bytes(rows, "\r")
              for k, rows in (("Users_csv", USERS), ("Content_csv", CONTENT), ("Interaction_csv", INTER))}
    rc, out, _ = main_quiet(["validate", "--data", str(tiny_folder(tmp_path / "ok", **bom_cr)), "--json"])
    assert rc == 0
    assert strict_json(out)["users"]["region"] == {"AS": 1, "EU": 1, "NA": 1}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_data_exits_2_naming_the_problem(tmp_path, capsys, case):
    files, fragments, in_subprocess = MALFORMED[case]
    folder = tiny_folder(tmp_path / "bad", **files)
    if in_subprocess:
        res = run_cli("validate", "--data", folder)
        rc, out, err = res.returncode, res.stdout, res.stderr
    else:
        rc = cli.main(["validate", "--data", str(folder)])
        out, err = capsys.readouterr()
    assert rc == 2
    assert out == ""
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment.lower() in err.lower(), (fragment, err)


def test_label_on_malformed_data_exits_2_and_writes_nothing(tmp_path, capsys):
    folder = tiny_folder(tmp_path / "bad", Interaction_csv=csv_bytes(edited(INTER, 2, "share", "yes")))
    assert cli.main(["label", "--data", str(folder), "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert "'share'" in err
    assert "row 2" in err
    assert not (tmp_path / "x.csv").exists()


def test_a_missing_data_folder_gives_a_short_message(tmp_path):
    res = run_cli("validate", "--data", tmp_path / "nowhere")
    assert res.returncode == 2
    assert "nowhere" in res.stderr
    assert "not a folder" in res.stderr
    assert len(res.stderr.strip().splitlines()) <= 3
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize(("text", "fragment"), [
    ('{"stage9": {"epochs": 1}}', "stage9"),
    ('{"stage3": {"epoch": 1}}', "epoch"),
    ('{"stage2": {"n_estimators": 0}}', "n_estimators"),
    ('{"seed": "seven"}', "seed"),
    ("[1, 2]", "JSON object"),
    ("{not json", "JSON"),
])
def test_a_bad_config_exits_2_before_any_training(tmp_path, capsys, text, fragment):
    (tmp_path / "cfg.json").write_text(text)
    folder = tiny_folder(tmp_path / "data")
    rc = cli.main(["run", "--data", str(folder), "--out", str(tmp_path / "out"),
                   "--config", str(tmp_path / "cfg.json")])
    err = capsys.readouterr().err
    assert rc == 2
    assert fragment in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_bad_config_in_a_subprocess(seed_dir, tmp_path):
    (tmp_path / "cfg.json").write_text('{"stage9": {}}')
    res = run_cli("run", "--data", seed_dir, "--out", tmp_path / "out", "--config", tmp_path / "cfg.json")
    assert res.returncode == 2
    assert "unknown config keys ['stage9']" in res.stderr
    assert "Traceback" not in res.stderr


def test_a_missing_config_file_exits_2(tmp_path, capsys):
    rc = cli.main(["run", "--data", str(tiny_folder(tmp_path / "d")), "--out", str(tmp_path / "o"),
                   "--config", str(tmp_path / "nope.json")])
    assert rc == 2
    assert "nope.json" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--debug", "validate", "--data", "{bad}"],
                                  ["validate", "--data", "{bad}", "--debug"]])
def test_debug_shows_the_traceback(tmp_path, capsys, argv):
    folder = tiny_folder(tmp_path / "bad", Users_csv=b"")
    rc = cli.main([a.format(bad=folder) for a in argv])
    err = capsys.readouterr().err
    assert rc == 2
    assert "Users.csv" in err
    assert "Traceback" in err


def test_an_unexpected_error_is_short_without_debug(tmp_path, capsys, monkeypatch):
    from ranking import data

    def broken(*args, **kwargs):
        raise RuntimeError("something inside broke")

    monkeypatch.setattr(data, "load_dataset", broken)
    assert cli.main(["validate", "--data", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "something inside broke" in err
    assert "--debug" in err
    assert "Traceback" not in err
    assert cli.main(["--debug", "validate", "--data", str(tmp_path)]) == 1
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    [], ["frobnicate"], ["validate"], ["label", "--data", "d"],
    ["synth", "--out", "w", "--users", "many"], ["label", "--data", "d", "--out", "o", "--comment-mode", "sometimes"],
    ["run", "--data", "d", "--out", "o", "--seed", "1.5"],
])
def test_usage_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_usage_error_in_a_subprocess():
    res = run_cli()
    assert res.returncode == 2
    assert "usage:" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize(("command", "options"), [
    ("validate", ["--data", "--json"]),
    ("label", ["--data", "--out", "--force", "--w-click", "--w-dwell", "--w-share", "--w-comment", "--w-hide",
               "--expected-dwell", "--threshold", "--comment-mode"]),
    ("synth", ["--out", "--force", "--users", "--items", "--interactions", "--seed", "--no-truth", "--format"]),
    ("run", ["--data", "--out", "--force", "--config", "--seed", "--quiet"]),
])
def test_help_of_every_command(capsys, command, options):
    with pytest.raises(SystemExit) as exc:
        cli.main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in [*options, "--debug"]:
        assert option in out


# ---------------------------------------------------------------- synth


def test_synth_writes_a_world_that_validates_and_repeats_byte_for_byte(tmp_path):
    args = ["--users", "200", "--items", "80", "--interactions", "3000", "--seed", "3"]
    res = run_cli("synth", "--out", tmp_path / "a", *args)
    assert res.returncode == 0, res.stderr
    rc, _, _ = main_quiet(["synth", "--out", str(tmp_path / "b"), *args])  # same seed, other process
    assert rc == 0
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["Content.csv", "Interaction.csv", "Users.csv", "truth.csv", "world.json"]
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert len(read_rows(tmp_path / "a" / "truth.csv")) == 200 * 80
    rc, out, _ = main_quiet(["validate", "--data", str(tmp_path / "a"), "--json"])
    assert rc == 0
    summary = strict_json(out)
    assert (summary["users"]["rows"], summary["content"]["rows"], summary["interactions"]["rows"]) == (200, 80, 3000)
    assert summary["has_truth"] is True


def test_synth_no_truth_leaves_the_truth_recomputable(tmp_path):
    rc, _, _ = main_quiet(["synth", "--out", str(tmp_path / "w"), "--users", "50", "--items", "20",
                           "--interactions", "400", "--seed", "1", "--no-truth"])
    assert rc == 0
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["Content.csv", "Interaction.csv", "Users.csv",
                                                                  "world.json"]
    rc, out, _ = main_quiet(["validate", "--data", str(tmp_path / "w"), "--json"])
    assert rc == 0
    assert strict_json(out)["has_truth"] is True  # from world.json


@pytest.mark.parametrize(("option", "value"), [("--users", "0"), ("--items", "-3"), ("--interactions", "0"),
                                               ("--users", "1e3")])
def test_synth_rejects_impossible_sizes(tmp_path, capsys, option, value):
    with pytest.raises(SystemExit) as exc:  # refused by the parser, as any usage error: exit status 2
        cli.main(["synth", "--out", str(tmp_path / "w"), option, value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"argument {option}: must be a whole number ≥ 1 (memory permitting), got '{value}'" in err
    assert not (tmp_path / "w").exists()


# ---------------------------------------------------------------- run on a generated world


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("world") / "w"
    # 400 items: the 7-day age limit leaves ~80 eligible per user, twice K (with 120 items only ~25 were,
    # about K, so stage 1 already listed nearly every eligible item and the stages could not be told apart)
    rc, _, _ = main_quiet(["synth", "--out", str(folder), "--users", "300", "--items", "400",
                           "--interactions", "6000", "--seed", "3"])
    assert rc == 0
    return folder


@pytest.fixture(scope="module")
def small_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "small.json"
    path.write_text(json.dumps(SMALL_CONFIG))
    return path


@pytest.fixture(scope="module")
def run1(world, small_config, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("run1") / "out"
    res = run_cli("run", "--data", world, "--out", out, "--config", small_config, "--seed", "7")
    assert res.returncode == 0, res.stderr
    return res, out


@pytest.fixture(scope="module")
def run2(world, small_config, tmp_path_factory) -> tuple[str, Path]:
    """The same run in this process (so byte equality also holds across processes)."""
    out = tmp_path_factory.mktemp("run2") / "out"
    rc, stdout, _ = main_quiet(["run", "--data", str(world), "--out", str(out), "--config", str(small_config),
                                "--seed", "7", "--quiet"])
    assert rc == 0
    return stdout, out


def test_run_writes_rankings_with_contiguous_ranks(run1, world):
    _, out = run1
    df = pd.read_csv(out / "rankings.csv")
    assert list(df.columns) == ["user_id", "content_id", "stage", "rank", "score"]
    assert set(df["stage"]) == set(STAGES)
    for (_, _), ranks in df.groupby(["user_id", "stage"])["rank"]:
        assert sorted(ranks) == list(range(1, len(ranks) + 1))
    assert not df.duplicated(["user_id", "stage", "content_id"]).any()
    users = pd.read_csv(world / "Users.csv", keep_default_na=False)
    assert set(df["user_id"]) <= set(users["user_id"])
    assert df.groupby("stage")["user_id"].nunique().to_dict() == dict.fromkeys(STAGES, 300)


def test_run_writes_metrics_for_every_stage(run1):
    _, out = run1
    doc = strict_json((out / "metrics.json").read_text())
    assert {"stages", "timing_s", "config", "baseline", "notes"} <= set(doc)
    assert set(doc["stages"]) == set(STAGES)
    for stage, m in doc["stages"].items():
        assert 0 < m["ndcg@10"] <= 1, stage
        assert 0 < m["oracle_ndcg@10"] <= 1, stage
        assert any(k.startswith("recall@") and k != "recall@10" for k in m) or stage == "final", stage
    for stage in ("stage2", "stage3"):
        assert 0.5 < doc["stages"][stage]["auc"] <= 1
    assert doc["config"]["seed"] == 7
    assert doc["config"]["stage2"]["n_estimators"] == 50
    assert doc["config"]["stage3"]["epochs"] == 3
    assert doc["timing_s"]["total"] > 0
    final, first, base = (doc["stages"]["final"]["oracle_ndcg@10"], doc["stages"]["stage1"]["oracle_ndcg@10"],
                          doc["baseline"]["oracle_ndcg@10"])
    assert final > first
    assert final > base


def test_stage2_scores_differ_across_a_users_candidates(run1):
    _, out = run1
    s2 = pd.read_csv(out / "rankings.csv").query("stage == 'stage2'")
    first_user = s2["user_id"].iloc[0]
    assert s2.loc[s2["user_id"] == first_user, "score"].nunique() > 1
    assert (s2.groupby("user_id")["score"].nunique() > 1).mean() > 0.95


def test_two_runs_with_one_seed_give_identical_bytes(run1, run2):
    assert (run1[1] / "rankings.csv").read_bytes() == (run2[1] / "rankings.csv").read_bytes()
    assert (run1[1] / "config.json").read_bytes() == (run2[1] / "config.json").read_bytes()


def test_a_saved_run_reloads_without_training(run1, world, monkeypatch, tmp_path):
    from ranking import data, pipeline
    from ranking.stages.candidates import CandidateGenerator
    from ranking.stages.gbdt import GBDTRanker
    from ranking.stages.neural import NeuralReranker

    def no_training(self, *args, **kwargs):
        raise AssertionError("load_run must not train")

    for cls in (CandidateGenerator, GBDTRanker, NeuralReranker):
        monkeypatch.setattr(cls, "fit", no_training)
    _, out = run1
    loaded = pipeline.load_run(out, data.load_dataset(world))
    data.write_csv(tmp_path / "again.csv", loaded.rankings_frame())
    assert (tmp_path / "again.csv").read_bytes() == (out / "rankings.csv").read_bytes()
    # the reloaded models still score: re-ranking with them reproduces the saved lists
    prep = loaded.prep
    scores = loaded.stage2.model.score(prep, loaded.stage1.lists)
    assert scores == pytest.approx(loaded.stage2.candidate_scores, nan_ok=True)
    again = pipeline.rerank(prep, loaded.stage2, loaded.stage3.model)
    assert (again.items == loaded.stage3.lists.items).all()


def test_run_prints_a_short_readable_summary(run1, run2):
    res, out = run1
    lines = res.stdout.strip().splitlines()
    baseline_rows = [line for line in lines if line.startswith("baseline: ")]
    assert len(baseline_rows) == 6  # popularity ×2, two heuristics, the GLM, logistic regression
    assert any("the best baseline" in line for line in lines)
    per_impression = next(i for i, line in enumerate(lines) if line.startswith("per impression"))
    assert per_impression - len(baseline_rows) < 16
    block = lines[per_impression:]
    assert block[1].split()[:5] == ["list", "AUC", "MRR", "nDCG@5", "nDCG@10"]
    for title in ("Stage 2 · XGBoost", "Stage 3 · neural", "Popularity (smoothed CTR)", "random order"):
        assert any(line.startswith(title) for line in block), title
    assert any(line.startswith("not scored per impression: Stage 1") for line in block)
    assert "pooled AUC" in lines[2]
    assert lines[1].startswith("impression split: each user's latest 20% of impressions held out whole;")
    assert lines[1].endswith("none cut")
    assert "{" not in res.stdout
    assert "nan" not in res.stdout.lower()
    header = next(line for line in lines if "oracle NDCG@10" in line)
    assert "NDCG@10" in header
    assert "recall@" in header
    assert "AUC" in header
    for stage in (*STAGES, "random"):
        assert any(line.startswith(stage + " ") for line in lines), stage
    assert lines[-1].startswith(f"wrote {out}")
    progress = [line for line in res.stderr.splitlines() if line.startswith("[")]
    assert 4 <= len(progress) <= 30  # one line per phase of each step, not one per XGBoost round
    for phase in ("ranking every user's candidates", "evaluating every list", "writing rankings.csv"):
        assert any(phase in line for line in progress), phase  # no long step is silent
    assert "Traceback" not in res.stderr
    assert run2[0].splitlines()[1:-1] == lines[1:-1]  # same numbers in the other process (timing aside)


def test_group_notes_merges_per_stage_repeats():
    notes = ["stage1: only 0 users have x.", "No ground truth.", "stage2: only 0 users have x.",
             "stage1→stage2: no test.", "stage2→stage3: no test."]
    assert cli.group_notes(notes) == ["stage1, stage2: only 0 users have x.", "No ground truth.",
                                      "stage1→stage2, stage2→stage3: no test."]


# ---------------------------------------------------------------- run on the seed tables


@pytest.fixture(scope="module")
def seed_run(seed_dir, tmp_path_factory) -> tuple[str, str, Path]:
    """`run` with every default on the seed tables (in this process: TensorFlow is loaded once)."""
    out = tmp_path_factory.mktemp("seedrun") / "out"
    rc, stdout, stderr = main_quiet(["run", "--data", str(seed_dir), "--out", str(out), "--quiet"])
    assert rc == 0, stderr
    return stdout, stderr, out


def test_run_on_the_seed_tables_respects_region_restrictions(seed_run, seed_dir):
    _, _, out = seed_run
    users = pd.read_csv(seed_dir / "Users.csv", keep_default_na=False, encoding="utf-8-sig", dtype=str)
    content = pd.read_csv(seed_dir / "Content.csv", keep_default_na=False, encoding="utf-8-sig", dtype=str)
    rows = read_rows(seed_dir / "Users.csv")
    assert (users["region"] == "NA").sum() == sum(r["region"] == "NA" for r in rows) > 0  # the raw read keeps NA
    region = dict(zip(users["user_id"].astype(int), users["region"], strict=True))
    restriction = dict(zip(content["content_id"].astype(int), content["region_restriction"], strict=True))
    df = pd.read_csv(out / "rankings.csv")
    assert set(df["stage"]) == set(STAGES)
    ok = [restriction[c] in ("ALL", region[u]) for u, c in zip(df["user_id"], df["content_id"], strict=True)]
    assert all(ok), df[[not x for x in ok]].head()
    # the blocklist filter bites: a user never gets an item of a publisher their blocklist names
    publisher = dict(zip(content["content_id"].astype(int), content["publisher"], strict=True))
    blocked = {int(r["user_id"]): set(r["blocklist"].split(";")) for r in rows}
    served_blocked = [(u, c) for u, c in zip(df["user_id"], df["content_id"], strict=True)
                      if publisher[c] in blocked[u]]
    assert not served_blocked
    assert any(b & set(publisher.values()) for b in blocked.values()), "the tables must block a real publisher"
    na_users = {u for u, r in region.items() if r == "NA"}
    na_items = {c for c, r in restriction.items() if r == "NA"}
    served = df[df["user_id"].isin(na_users)]
    assert served["content_id"].isin(na_items).any()  # NA items do reach NA users


def test_run_on_the_seed_tables_says_what_cannot_be_measured(seed_run):
    stdout, stderr, out = seed_run
    notes = [line.lower() for line in stdout.splitlines() if line.startswith("note:")]
    assert any("too few users" in n for n in notes)
    assert any("no ground truth" in n for n in notes)
    assert "Traceback" not in stderr
    assert not [line for line in stdout.splitlines() if "nan" in line.lower() and not line.startswith("note:")]
    doc = strict_json((out / "metrics.json").read_text())
    assert doc["stages"]["stage1"]["ndcg@10"] is None  # not measurable: null, said in the notes
    assert doc["notes"]


# ---------------------------------------------------------------- light commands stay light


def test_light_commands_do_not_import_tensorflow_or_xgboost(seed_dir, tmp_path):
    code = f"""
import sys
from ranking.cli import main

def heavy():
    return sorted({{m.split('.')[0] for m in sys.modules}} & {{'tensorflow', 'keras', 'xgboost'}})

for argv in (['validate', '--data', {str(seed_dir)!r}, '--json'],
             ['label', '--data', {str(seed_dir)!r}, '--out', {str(tmp_path / 'x.csv')!r}],
             ['synth', '--out', {str(tmp_path / 'w')!r}, '--users', '30', '--items', '10', '--interactions', '90']):
    assert main(argv) == 0, argv
    assert not heavy(), (argv[0], heavy())
import ranking.pipeline
assert not {{'tensorflow', 'keras'}} & {{m.split('.')[0] for m in sys.modules}}, 'pipeline imports tensorflow'
print('light')
"""
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().endswith("light")


# ---------------------------------------------------------------- limits checked before any work (issue 14)


@pytest.fixture
def no_work(monkeypatch):
    """Generating, loading and training all fail loudly: a check that comes first never reaches them."""
    from ranking import data, pipeline
    from ranking.data import synth

    def work(*args, **kwargs):
        raise AssertionError("work started before the checks")

    for module, name in ((synth, "generate"), (data, "load_dataset"), (pipeline, "run")):
        monkeypatch.setattr(module, name, work)


def test_synth_too_big_for_memory_is_refused_at_once(tmp_path, capsys, monkeypatch, no_work):
    monkeypatch.setenv("LAB_MAX_MEMORY_GB", "6")
    rc = cli.main(["synth", "--out", str(tmp_path / "w"), "--items", "10", "--interactions", "100000000"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "error: --interactions 100,000,000 would need about " in err
    assert " GB of memory; the limit is 6.0 GB (LAB_MAX_MEMORY_GB): use --interactions " in err
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("command", ["synth", "run"])
@pytest.mark.parametrize("seed", ["-1", "99999999999999999999", "2147483648", "seven"])
def test_a_seed_out_of_range_names_the_option_and_the_range(tmp_path, capsys, command, seed):
    argv = [command, "--out", str(tmp_path / "o"), *(["--data", str(tmp_path)] if command == "run" else []),
            "--seed", seed]
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --seed: must be a whole number from 0 to 2147483647 (2**31 - 1), got '{seed}'" in err


@pytest.mark.parametrize("seed", ["-1", "99999999999999999999", "true", "1.5", '"12"'])
def test_a_seed_out_of_range_in_the_config_file_is_refused(tmp_path, capsys, no_work, seed):
    (tmp_path / "cfg.json").write_text(f'{{"seed": {seed}}}')
    rc = cli.main(["run", "--data", str(tmp_path), "--out", str(tmp_path / "o"),
                   "--config", str(tmp_path / "cfg.json")])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"seed in config file {tmp_path / 'cfg.json'} must be a whole number from 0 to 2,147,483,647" in err


def test_the_seed_option_overrides_a_bad_config_seed_and_the_largest_seed_passes(tmp_path, capsys, no_work):
    (tmp_path / "cfg.json").write_text('{"seed": -5}')
    rc = cli.main(["run", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--config", str(tmp_path / "cfg.json"),
                   "--seed", "2147483647"])
    assert rc == 1  # got past every check to the (patched) data loading
    assert "work started before the checks" in capsys.readouterr().err


def test_bad_config_json_names_the_file_and_the_position(tmp_path, capsys, no_work):
    cfg = tmp_path / "cfg.json"
    cfg.write_text('{"stage3": {"epochs": 5,}\n}')
    rc = cli.main(["run", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--config", str(cfg)])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"config file {cfg}: not valid JSON at line 1, column 25: Expecting property name" in err
    assert "input data" not in err


def test_label_into_an_existing_folder_names_that_folder_and_leaves_no_temp_file(seed_dir, tmp_path, capsys):
    (tmp_path / "x.csv").mkdir()
    rc = cli.main(["label", "--data", str(seed_dir), "--out", str(tmp_path / "x.csv")])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"error: --out {tmp_path / 'x.csv'}: is a folder; give a file name, such as" in err
    assert ".tmp" not in err
    assert [p.name for p in tmp_path.iterdir()] == ["x.csv"]
    assert list((tmp_path / "x.csv").iterdir()) == []
    # --force replaces an empty folder (never one holding files)
    assert cli.main(["label", "--data", str(seed_dir), "--out", str(tmp_path / "x.csv"), "--force"]) == 0
    assert (tmp_path / "x.csv").is_file()


@pytest.mark.parametrize("command", ["synth", "run", "label"])
@pytest.mark.parametrize("place", ["missing parent", "existing file", "read-only"])
def test_an_unusable_output_fails_before_any_work(tmp_path, capsys, monkeypatch, no_work, command, place):
    out = tmp_path / "out"
    if place == "missing parent":
        out = tmp_path / "nowhere" / "out"
    elif place == "existing file":
        out.write_text("keep me")
    else:
        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr("tempfile.mkstemp", refuse)  # root ignores a read-only folder's mode
    argv = {"synth": ["synth", "--users", "20", "--items", "5", "--interactions", "40"],
            "run": ["run", "--data", str(tmp_path)], "label": ["label", "--data", str(tmp_path)]}[command]
    before = sorted(tmp_path.rglob("*"))
    rc = cli.main([*argv, "--out", str(out)])
    err = capsys.readouterr().err
    if place == "existing file" and command == "label":
        assert rc == 1  # a file is replaced as usual: the checks pass and the (patched) work starts
        return
    assert rc == 2, err
    assert f"error: --out {out}: " in err
    assert {"missing parent": "does not exist", "existing file": "is an existing file, not a folder",
            "read-only": "cannot write in"}[place] in err
    assert sorted(tmp_path.rglob("*")) == before  # nothing created, no temp file left


def test_synth_force_replaces_a_file_with_the_world(tmp_path):
    (tmp_path / "w").write_text("old")
    rc, _, _ = main_quiet(["synth", "--out", str(tmp_path / "w"), "--users", "20", "--items", "5",
                           "--interactions", "40", "--force"])
    assert rc == 0
    assert (tmp_path / "w" / "Interaction.csv").is_file()


def test_a_write_that_fails_late_names_the_users_path_and_leaves_no_temp_file(tmp_path, capsys, monkeypatch):
    import ranking.data.formats as io_module

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device", str(src), None, str(dst))

    monkeypatch.setattr(io_module.os, "replace", broken_replace)
    rc = cli.main(["synth", "--out", str(tmp_path / "w"), "--users", "20", "--items", "5", "--interactions", "40"])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"error: cannot write {tmp_path / 'w'}: No space left on device" in err
    assert ".tmp" not in err
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


class _Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_progress_is_never_silent_in_a_log_and_draws_a_bar_with_an_estimate_on_a_terminal(monkeypatch):
    import io

    from ranking import progress
    from ranking.progress import Progress

    clock = _Clock()
    monkeypatch.setattr(progress.time, "monotonic", clock)
    log = io.StringIO()
    p = Progress(stream=log, tty=False)
    p("stage2", 0.0, "Stage 2: XGBoost round 1 of at most 300", {})
    for r in range(2, 40):  # 38 rounds within a quarter, 1 s apart: one heartbeat line after 10 s
        clock.t += 1.0
        p("stage2", r / 300, f"Stage 2: XGBoost round {r} of at most 300", {})
    p("stage2", 1.0, "Stage 2: ranking every user's candidates", {})  # a new phase at the same fraction
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("[  0%] stage2: Stage 2: XGBoost round 1 of at most 300")
    assert sum("round" in line for line in lines) == 1 + 3  # the first, then one per 10 s (at 10, 20, 30 s)
    assert lines[-1] == "[100%] stage2: Stage 2: ranking every user's candidates (38 s)"

    term = io.StringIO()
    p = Progress(stream=term, tty=True)
    p("stage3", 0.0, "Stage 3: epoch 1 of 10", {})
    clock.t += 20.0
    p("stage3", 0.5, "Stage 3: epoch 5 of 10", {})  # half in 20 s: about 20 s left
    p("done", 1.0, "done", {})
    drawn = term.getvalue().split("\r\x1b[K")[-1]
    assert "█" * 12 + "·" * 12 in drawn
    assert "50% Stage 3: epoch 5 of 10 · 20 s · 150 %/min · ~20 s left" in drawn
    assert drawn.endswith("\n")
