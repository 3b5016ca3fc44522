"""MIND import: hand-made tiny files written here; every expected number is worked out by hand below."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ranking import cli, data
from ranking.config import GBDTConfig, LabelConfig, NeuralConfig, PipelineConfig, PostConfig
from ranking.data.mind import CLICKS_ONLY, import_mind
from ranking.errors import DataError

ROOT = Path(__file__).resolve().parents[1]


def tsv(*lines: str, eol: str = "\n", bom: bool = False) -> bytes:
    return (("\ufeff" if bom else "") + "".join(line + eol for line in lines)).encode("utf-8")


NEWS_LINES = (
    "N1\tnews\tnewsus\tTitle, with \"quotes\"\tAn abstract\thttps://x/N1\t[]\t[]",
    "N2\tsports\tfootball_nfl\tSecond title\t\thttps://x/N2\t[]\t[]",
    "N3\tnews\tnewsworld\tThird\t\t\t\t",
    "N4\tfinance\tmarkets\tNever shown\t\t\t[]\t[]",
)
BEHAVIOR_LINES = (
    "1\tU7\t11/15/2019 12:05:01 AM\tN1 N3\tN1-1 N2-0 N9-1",  # 12 AM is midnight
    "2\tU3\t11/15/2019 12:30:00 PM\t\tN2-0 N3-1",  # 12 PM is noon; empty history
    "3\tU7\t11/16/2019 8:55:22 AM\tN1 N3\tN3-0 N9-0 N8-0",  # U7 again, same history
    "4\tU10\t11/16/2019 11:59:59 PM\tN4\tN1-0",
)
NEWS, BEHAVIORS = tsv(*NEWS_LINES), tsv(*BEHAVIOR_LINES)
# Users in sorted order of the MIND id (as text): U10 -> 1, U3 -> 2, U7 -> 3.
USER = {"U10": 1, "U3": 2, "U7": 3}
UTC = "UTC"


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


def test_tables_from_a_tiny_pair_keep_unknown():
    users, content, inter, rep = import_mind(BEHAVIORS, NEWS, unknown_news="keep")
    assert users["user_id"].tolist() == [1, 2, 3]
    assert users["mind_user_id"].tolist() == ["U10", "U3", "U7"]
    assert set(users["region"]) == {"NA"}
    assert set(users["device_type"]) == {"unknown"}
    assert set(users["blocklist"]) == {""}
    assert set(users["avg_session_length"]) == {0.0}
    # N1..N4 from news.tsv, then the unknown N8, N9 in sorted order
    assert content["mind_news_id"].tolist() == ["N1", "N2", "N3", "N4", "N8", "N9"]
    assert content["content_id"].tolist() == [1, 2, 3, 4, 5, 6]
    assert content["topic"].tolist() == ["news", "sports", "news", "finance", "unknown", "unknown"]
    assert content["subcategory"].tolist() == ["newsus", "football_nfl", "newsworld", "markets", "", ""]
    assert content["title"].tolist() == ['Title, with "quotes"', "Second title", "Third", "Never shown", "", ""]
    assert set(content["publisher"]) == {"MIND"}
    assert set(content["quality_score"]) == {0.5}
    assert set(content["region_restriction"]) == {"ALL"}
    affinity = sorted(c for c in users if c.startswith("topic_affinity_"))
    assert affinity == ["topic_affinity_finance", "topic_affinity_news", "topic_affinity_sports",
                        "topic_affinity_unknown"]
    assert (users[affinity] == 0.5).all().all()
    # first shown: N1, N2, N9 on line 1 (00:05:01); N3 line 2 (12:30); N8 line 3; N4 never -> the log's first
    assert content["publish_timestamp"].tolist() == [ts("2019-11-15 00:05:01"), ts("2019-11-15 00:05:01"),
                                                     ts("2019-11-15 12:30:00"), ts("2019-11-15 00:05:01"),
                                                     ts("2019-11-16 08:55:22"), ts("2019-11-15 00:05:01")]
    # one interaction per shown item, in file order
    assert inter["user_id"].tolist() == [3, 3, 3, 2, 2, 3, 3, 3, 1]
    assert inter["content_id"].tolist() == [1, 2, 6, 2, 3, 3, 6, 5, 1]
    assert inter["click"].tolist() == [1, 0, 1, 0, 1, 0, 0, 0, 0]
    assert inter["position"].tolist() == [1, 2, 3, 1, 2, 1, 2, 3, 1]
    assert inter["impression_id"].tolist() == ["1", "1", "1", "2", "2", "3", "3", "3", "4"]
    times = [ts("2019-11-15 00:05:01")] * 3 + [ts("2019-11-15 12:30:00")] * 2 + \
        [ts("2019-11-16 08:55:22")] * 3 + [ts("2019-11-16 23:59:59")]
    assert inter["event_timestamp"].tolist() == times
    for col in ("dwell_time", "share", "comment", "hide"):
        assert (inter[col] == 0).all()
    assert (rep.impressions, rep.shown, rep.clicks, rep.users) == (4, 9, 3, 3)
    assert (rep.news_in_file, rep.news_shown) == (4, 3)  # N1, N2, N3
    # unknown: N9 twice (one click), N8 once; on lines 1 and 3
    assert (rep.unknown_news, rep.unknown_refs, rep.unknown_clicks, rep.unknown_rows) == (2, 3, 1, 2)
    assert (rep.dropped, rep.interactions) == (0, 9)
    text = "\n".join(rep.lines())
    assert "2 id(s) missing from news.tsv, shown 3 time(s) (1 clicks) in 2 impression line(s)" in text
    assert "kept as items with topic 'unknown'" in text
    assert "dwell_time, share, comment, hide" in text
    assert "threshold=0.5" in text


def test_drop_unknown_news_counts_what_it_leaves_out():
    _users, content, inter, rep = import_mind(BEHAVIORS, NEWS, unknown_news="drop")
    assert content["mind_news_id"].tolist() == ["N1", "N2", "N3", "N4"]
    assert set(content["topic"]) == {"news", "sports", "finance"}
    assert inter["content_id"].tolist() == [1, 2, 2, 3, 3, 1]
    assert inter["position"].tolist() == [1, 2, 1, 2, 1, 1]  # places in the impression as shown
    assert (rep.unknown_refs, rep.dropped, rep.emptied_rows, rep.interactions) == (3, 3, 0, 6)
    assert rep.shown == 9
    assert rep.clicks == 3
    assert "dropped: 3 shown item(s)" in "\n".join(rep.lines())
    _, _, inter2, rep2 = import_mind(tsv(*BEHAVIOR_LINES, "5\tU3\t11/17/2019 1:00:00 AM\t\tN8-1 N9-0"), NEWS,
                                     unknown_news="drop")
    assert (rep2.dropped, rep2.emptied_rows, rep2.unknown_clicks) == (5, 1, 2)
    assert len(inter2) == 6


def test_history_becomes_earlier_clicks_once_per_user_and_news():
    _, content, inter, rep = import_mind(BEHAVIORS, NEWS, unknown_news="keep", history=True)
    hist = inter[inter["impression_id"] == ""]
    # U7's history N1 N3 is on two lines: counted once; U3 none; U10: N4
    assert list(zip(hist["user_id"], hist["content_id"], strict=True)) == [(1, 4), (3, 1), (3, 3)]
    assert hist["event_timestamp"].tolist() == [ts("2019-11-16 23:59:58"), ts("2019-11-15 00:04:59"),
                                                ts("2019-11-15 00:05:00")]
    assert (hist["click"] == 1).all()
    assert hist["position"].isna().all()
    assert (rep.history_entries, rep.history_added, rep.interactions) == (5, 3, 12)
    published = dict(zip(content["mind_news_id"], content["publish_timestamp"], strict=True))
    assert published["N1"] == ts("2019-11-15 00:04:59")
    assert published["N4"] == ts("2019-11-16 23:59:58")


def test_bom_crlf_and_blank_lines_read_like_plain_lf():
    plain = import_mind(BEHAVIORS, NEWS, unknown_news="keep", history=True)
    for b, n in ((tsv(*BEHAVIOR_LINES, eol="\r\n", bom=True), tsv(*NEWS_LINES, eol="\r\n", bom=True)),
                 (tsv(*BEHAVIOR_LINES[:2], "", *BEHAVIOR_LINES[2:], eol="\r"), tsv(*NEWS_LINES, "", ""))):
        other = import_mind(b, n, unknown_news="keep", history=True)
        for x, y in zip(plain[:3], other[:3], strict=True):
            pd.testing.assert_frame_equal(x, y)
        assert plain[3] == other[3]


def test_same_input_same_frames_and_bytes(tmp_path):
    outs = []
    for k in range(2):
        frames = import_mind(BEHAVIORS, NEWS, unknown_news="keep", history=True)
        data.write_tables(tmp_path / str(k), *frames[:3])
        outs.append(frames)
    for x, y in zip(outs[0][:3], outs[1][:3], strict=True):
        pd.testing.assert_frame_equal(x, y)
    for name in ("Users.csv", "Content.csv", "Interaction.csv"):
        assert (tmp_path / "0" / name).read_bytes() == (tmp_path / "1" / name).read_bytes()


def test_files_on_disk_and_their_names_in_messages(tmp_path):
    (tmp_path / "b.tsv").write_bytes(BEHAVIORS)
    (tmp_path / "n.tsv").write_bytes(NEWS)
    assert import_mind(tmp_path / "b.tsv", str(tmp_path / "n.tsv"), unknown_news="keep")[3].shown == 9
    (tmp_path / "b.tsv").write_bytes(tsv(BEHAVIOR_LINES[0], "2\tU3\t11/15/2019 12:30:00 PM\t\tN2-0 N3"))
    with pytest.raises(DataError, match=r"b\.tsv, line 2: .*'N3'"):
        import_mind(tmp_path / "b.tsv", tmp_path / "n.tsv", unknown_news="keep")


def _problems(behaviors: bytes, news: bytes = NEWS) -> str:
    with pytest.raises(DataError) as err:
        import_mind(behaviors, news, unknown_news="keep")
    return str(err.value)


OK1 = BEHAVIOR_LINES[0]


@pytest.mark.parametrize(("line", "found"), [
    ("2\tU3\t11/15/2019 12:30:00 PM\t\tN2-0 N1-2", "an impression token is not <news id>-<0 or 1> (found 'N1-2')"),
    ("2\tU3\t11/15/2019 12:30:00 PM\t\tN1 N2-0", "an impression token is not <news id>-<0 or 1> (found 'N1')"),
    ("2\tU3\t11/15/2019 12:30:00 PM\t\t-1", "(found '-1')"),
    ("2\tU3\t11/15/2019 12:30:00 PM\tN2-0 N3-1", "expected 5 tab-separated columns (found '2\\tU3"),
    ("2\tU3\t11/15/2019 12:30:00 PM\t\tN2-0\textra", "expected 5 tab-separated columns"),
    ("2\tU3\t2019-11-15 12:30:00\t\tN2-0", "the time is not like 11/15/2019 8:55:22 AM (found '2019-11-15 12:30:00')"),
    ("2\tU3\t11/15/2019 13:30:00 PM\t\tN2-0", "(found '11/15/2019 13:30:00 PM')"),
    ("2\tU3\t11/15/2019 12:30:00\t\tN2-0", "(found '11/15/2019 12:30:00')"),
    ("2\t\t11/15/2019 12:30:00 PM\t\tN2-0", "the user id is empty"),
    ("2\tU3\t11/15/2019 12:30:00 PM\tN1\t ", "no shown items"),
])
def test_malformed_behaviors_name_file_line_and_text(line, found):
    msg = _problems(tsv(OK1, line))
    assert "behaviors.tsv, line 2: " in msg
    assert found in msg


def test_line_numbers_count_blank_lines_and_every_bad_line_is_listed():
    msg = _problems(tsv(OK1, "", "3\tU3\t11/15/2019 1:00:00 PM\t\tN2-0 N1-x", "4\tU3\tnoon\t\tN1-0"))
    assert "behaviors.tsv, line 3: an impression token" in msg
    assert "(found 'N1-x')" in msg
    assert "behaviors.tsv, line 4: the time is not like" in msg
    many = _problems(tsv(*[f"{i}\tU1\t11/15/2019 1:00:00 PM\t\tN{i}-5" for i in range(1, 12)]))
    assert "behaviors.tsv, line 8:" in many
    assert "3 more line(s) where an impression token" in many


@pytest.mark.parametrize(("news", "found"), [
    (tsv(NEWS_LINES[0], "N2\tsports\tnfl\tT"), "news.tsv, line 2: expected 8 tab-separated columns (found 'N2\\ts"),
    (tsv(NEWS_LINES[0], NEWS_LINES[1], NEWS_LINES[0]), "news.tsv, line 3: the news id repeats an earlier line"),
    (tsv(NEWS_LINES[0], "N2\t\tnfl\tT\t\t\t\t"), "news.tsv, line 2: the category is empty"),
    (b"N1\tnews\tx\tCaf\xe9\t\t\t\t\n", "news.tsv, line 1: not UTF-8 text (byte 0xe9"),
    (b"", "news.tsv: the file holds no lines"),
])
def test_malformed_news(news, found):
    assert found in _problems(BEHAVIORS, news)


def test_unknown_news_must_be_keep_or_drop():
    with pytest.raises(ValueError, match="keep' or 'drop'"):
        import_mind(BEHAVIORS, NEWS, unknown_news="ignore")  # type: ignore[arg-type]


def test_upload_recognises_a_mind_pair():
    ds = data.load_uploaded({"Behaviors.TSV": BEHAVIORS, "folder/news.tsv": NEWS, "notes.csv": b"x\n"})
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (3, 6, 9)
    assert ds.warnings[0].startswith("MIND: 4 impression lines")
    assert any("ignored uploaded file(s) 'notes.csv'" in w for w in ds.warnings)
    assert any("extra column(s) 'impression_id' kept" in w for w in ds.warnings)  # position and title: known columns
    with pytest.raises(DataError, match=r"needs news\.tsv beside behaviors\.tsv"):
        data.load_uploaded({"behaviors.tsv": BEHAVIORS})
    with pytest.raises(DataError, match=r"Behaviors\.tsv, line 2"):
        data.load_uploaded({"Behaviors.tsv": tsv(OK1, "2\tU1\tx\t\tN1-0"), "news.tsv": NEWS})


def main_quiet(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(argv)
    return rc, out.getvalue(), err.getvalue()


def test_cli_import_mind_writes_three_tables_and_a_note(tmp_path):
    (tmp_path / "behaviors.tsv").write_bytes(BEHAVIORS)
    (tmp_path / "news.tsv").write_bytes(NEWS)
    args = ["import-mind", "--behaviors", str(tmp_path / "behaviors.tsv"), "--news", str(tmp_path / "news.tsv")]
    rc, out, err = main_quiet([*args, "--out", str(tmp_path / "out"), "--unknown-news", "drop", "--history"])
    assert rc == 0, err
    assert "4 impression lines" in out
    assert "dropped: 3 shown item(s)" in out
    assert "wrote " in out
    ds = data.load_dataset(tmp_path / "out")
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (3, 4, 9)  # 6 shown + 3 history
    note = json.loads((tmp_path / "out" / "source.json").read_text())
    assert note["format"] == "MIND"
    assert note["recommended_labels"] == CLICKS_ONLY
    assert note["absent_signals"] == ["dwell_time", "share", "comment", "hide"]


def test_cli_import_mind_refuses_bad_input_and_bad_out(tmp_path):
    (tmp_path / "behaviors.tsv").write_bytes(tsv(OK1, "2\tU3\t11/15/2019 12:30:00 PM\t\tN1-2"))
    (tmp_path / "news.tsv").write_bytes(NEWS)
    (tmp_path / "file").write_text("x")
    args = ["import-mind", "--behaviors", str(tmp_path / "behaviors.tsv"), "--news", str(tmp_path / "news.tsv")]
    rc, _out, err = main_quiet([*args, "--out", str(tmp_path / "out")])
    assert rc == 2
    assert "behaviors.tsv, line 2" in err
    assert "'N1-2'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()
    for out_dir, why in ((tmp_path / "file", "is not a folder"), (tmp_path / "no" / "out", "does not exist")):
        rc, _, err = main_quiet([*args, "--out", str(out_dir)])
        assert rc == 2
        assert why in err
    rc, _, err = main_quiet(["import-mind", "--behaviors", str(tmp_path / "nope.tsv"), "--news",
                             str(tmp_path / "news.tsv"), "--out", str(tmp_path / "o2")])
    assert rc == 2
    assert "nope.tsv: no such file" in err


def _generated_pair(seed: int = 7, n_users: int = 60, per_user: int = 5, shown: int = 8) -> tuple[bytes, bytes]:
    """Users prefer one category each and click it more often, so the models have something to learn."""
    rng = np.random.default_rng(seed)
    cats = ("news", "sports", "finance", "travel")
    news = [f"N{100 + i}\t{cats[i % 4]}\tsub{i % 3}\tTitle {i}\t\t\t[]\t[]" for i in range(48)]
    lines, n = [], 0
    for u in range(n_users):
        likes = u % 4
        for k in range(per_user):
            items = rng.choice(48, shown, replace=False)
            p = np.where(items % 4 == likes, 0.6, 0.08)
            toks = " ".join(f"N{100 + i}-{int(c)}" for i, c in zip(items, rng.random(shown) < p, strict=True))
            n += 1
            hour = (3 * k + u) % 24
            lines.append(f"{n}\tU{u}\t11/{10 + k}/2019 {hour % 12 or 12}:{u % 60:02d}:00 {'AM' if hour < 12 else 'PM'}"
                         f"\t\t{toks}")
    return tsv(*lines), tsv(*news)


def test_round_trip_import_load_run(tmp_path):
    b, n = _generated_pair()
    (tmp_path / "behaviors.tsv").write_bytes(b)
    (tmp_path / "news.tsv").write_bytes(n)
    rc, out, err = main_quiet(["import-mind", "--behaviors", str(tmp_path / "behaviors.tsv"),
                               "--news", str(tmp_path / "news.tsv"), "--out", str(tmp_path / "mind")])
    assert rc == 0, err
    assert "300 impression lines" in out
    assert "2400 shown items" in out
    assert "60 users" in out
    ds = data.load_dataset(tmp_path / "mind")
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (60, 48, 2400)
    from ranking import pipeline

    config = PipelineConfig(labels=LabelConfig(w_click=1, w_dwell=0, w_share=0, w_comment=0, w_hide=0, threshold=0.5),
                            stage2=GBDTConfig(n_estimators=20, n_jobs=1, top_n=10), stage3=NeuralConfig(epochs=2),
                            post=PostConfig(m=5))
    result = pipeline.run(ds, config)
    assert int(result.prep.interactions["label"].sum()) == int(ds.interactions["click"].sum())
    final = result.lists()["final"].items
    assert final.shape[0] == 60
    assert (final[:, 0] >= 0).all()
    assert set(result.evaluation.stages) >= {"stage1", "stage2", "stage3", "final"}


def test_run_on_an_imported_log_with_unknown_news_dropped_labels_by_clicks(tmp_path):
    """The issue's check: import with --unknown-news drop, then `run` with no config completes. The log
    records only clicks, so the label defaults to clicks only (the notebook's threshold of 2 would
    leave no positive at all) and `run` says so."""
    b, n = _generated_pair()
    news = b"".join(line + b"\n" for line in n.splitlines()[:-6])  # a few shown news become unknown
    (tmp_path / "behaviors.tsv").write_bytes(b)
    (tmp_path / "news.tsv").write_bytes(news)
    rc, out, err = main_quiet(["import-mind", "--behaviors", str(tmp_path / "behaviors.tsv"), "--news",
                               str(tmp_path / "news.tsv"), "--out", str(tmp_path / "mind"), "--unknown-news", "drop"])
    assert rc == 0, err
    assert "dropped" in out
    ds = data.load_dataset(tmp_path / "mind")
    assert ds.recorded == ("click",)
    cfg = tmp_path / "cfg.json"
    cfg.write_text('{"stage2": {"n_estimators": 20, "top_n": 10}, "stage3": {"epochs": 2}, "post": {"m": 5}}')
    rc, out, err = main_quiet(["run", "--data", str(tmp_path / "mind"), "--out", str(tmp_path / "run"),
                               "--config", str(cfg), "--quiet"])
    assert rc == 0, err
    assert "the log records only click; labelling with 1·click + 0·dwell/10" in err
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["labels"]["threshold"] == 0.5
    assert saved["labels"]["w_share"] == 0.0


def test_import_mind_help_and_it_stays_light(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["import-mind", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--behaviors", "--news", "--out", "--unknown-news", "--history", "--debug"):
        assert option in out
    (tmp_path / "behaviors.tsv").write_bytes(BEHAVIORS)
    (tmp_path / "news.tsv").write_bytes(NEWS)
    code = (f"import sys\nfrom ranking.cli import main\n"
            f"assert main(['import-mind', '--behaviors', {str(tmp_path / 'behaviors.tsv')!r}, '--news', "
            f"{str(tmp_path / 'news.tsv')!r}, '--out', {str(tmp_path / 'o')!r}]) == 0\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'xgboost', 'streamlit'}))")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "[]"


def test_bench_generator_writes_the_shape_it_promises(tmp_path):
    from benchmarks import mind_bench

    shape = mind_bench.MindShape("tiny", users=40, news=60, lines=120)
    b, n = mind_bench.generate_pair(tmp_path, shape, seed=1)
    rep = import_mind(b, n, unknown_news="drop", history=True)[3]
    assert (rep.impressions, rep.users, rep.news_in_file, rep.unknown_news) == (120, 40, 60, 0)
    assert rep.shown == len(b.read_text().split("-")) - 1  # one "-" per shown token, none elsewhere
    assert b.read_bytes() == mind_bench.generate_pair(tmp_path / "again", shape, seed=1)[0].read_bytes()


def test_bench_measures_and_tabulates_a_tiny_pair():
    from benchmarks import mind_bench

    result = mind_bench.measure(mind_bench.MindShape("tiny", users=30, news=40, lines=90))
    assert set(result["runs"]) == {"impressions", "history"}
    assert result["runs"]["history"]["interactions"] > result["runs"]["impressions"]["interactions"]
    assert "| impressions |" in mind_bench.format_table(result)
    json.dumps(result)  # --json prints it
