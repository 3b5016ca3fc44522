"""Import the MIND (Microsoft News) format: behaviors.tsv + news.tsv -> the lab's three tables.

behaviors.tsv (tab-separated, no header): impression id, user id, time (11/15/2019 8:55:22 AM, read
as UTC), click history (space-separated news ids, may be empty), impressions (N1-1 N2-0 …: 1 clicked,
0 shown, not clicked). news.tsv: news id, category, subcategory, title, abstract, URL, title entities,
abstract entities (the last four are not imported).

Mapping; what MIND lacks gets a documented neutral constant, never an invented signal:
  interactions  one per shown item: click from the label, event_timestamp the impression's time, extra
                `position` (1-based place among all the line's tokens, kept when others are dropped) and
                `impression_id`. dwell_time, share, comment, hide do not exist in MIND: 0, so label
                clicks only (`CLICKS_ONLY`: click 1, the rest 0, threshold 0.5).
  history=True  each user's click history becomes click=1 interactions one second apart, the last one
                second before the user's first impression (empty position and impression_id); the
                history repeated on each of a user's lines counts once per (user, news) pair.
  users         numbered 1..n in sorted order of the MIND id (kept in `mind_user_id`); device_type
                "unknown", region "NA" (Microsoft News users; every item is region_restriction ALL, so
                it filters nothing), avg_session_length 0, empty blocklist, every topic_affinity_* 0.5.
  content       news.tsv rows and (keep) unknown news, numbered 1..n in sorted order of the news id
                (kept in `mind_news_id`); topic = category, extra `subcategory` and `title`; publisher
                "MIND", quality_score 0.5, region_restriction ALL; publish_timestamp estimated as the
                item's first interaction (never shown: the log's first time).
  unknown news  ids shown (or in imported histories) but missing from news.tsv are counted; "keep" adds
                them with topic "unknown" and no title, "drop" leaves those tokens out (counted).

Refused with `DataError` naming file, line and the text found: not UTF-8, wrong column count, times
not like the above, impression tokens not <id>-<0|1> (N1-2, N1), lines without shown items, empty
user or news ids, repeated news ids, empty categories. A UTF-8 BOM, CRLF (or CR) line endings and
blank lines are fine. Same input, same frames: every order comes from sorting.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ranking.data import schema as S
from ranking.errors import DataError

TIME_FORMAT, ISO = "%m/%d/%Y %I:%M:%S %p", "%Y-%m-%dT%H:%M:%SZ"
PUBLISHER, UNKNOWN_TOPIC, DEVICE, REGION = "MIND", "unknown", "unknown", "NA"
NEUTRAL = 0.5  # quality_score and every topic affinity
ABSENT = (S.DWELL, S.SHARE, S.COMMENT, S.HIDE)
CLICKS_ONLY = {"w_click": 1.0, "w_dwell": 0.0, "w_share": 0.0, "w_comment": 0.0, "w_hide": 0.0, "threshold": 0.5}
MIND_USER, MIND_NEWS, SUBCATEGORY, TITLE = "mind_user_id", "mind_news_id", "subcategory", "title"
POSITION, IMPRESSION = "position", "impression_id"
MAX_LINES = 8  # offending lines listed per kind of problem

Source = bytes | str | Path


@dataclass(frozen=True)
class MindReport:
    """What the import read, made and left out; `lines()` is the text the CLI prints."""

    impressions: int
    shown: int
    clicks: int
    users: int
    news_in_file: int
    news_shown: int
    unknown_news: int  # distinct ids missing from news.tsv (impressions and imported history)
    unknown_refs: int  # shown items naming them
    unknown_clicks: int
    unknown_rows: int  # impression lines with at least one of them
    unknown_action: str
    dropped: int  # shown items and history entries left out (drop)
    emptied_rows: int  # impression lines left with no shown item by drop
    history: bool
    history_entries: int
    history_added: int
    history_unknown: int
    interactions: int
    first_time: str
    last_time: str
    absent_signals: tuple[str, ...] = ABSENT
    recommended_labels: tuple[tuple[str, float], ...] = tuple(CLICKS_ONLY.items())

    def as_dict(self) -> dict:
        return {**asdict(self), "recommended_labels": dict(self.recommended_labels), "notes": self.lines()}

    def lines(self) -> list[str]:
        pct = f"{self.clicks / max(self.shown, 1):.1%}"
        out = [f"MIND: {self.impressions} impression lines ({self.first_time} to {self.last_time}), "
               f"{self.shown} shown items, {self.clicks} clicks ({pct}), {self.users} users",
               f"news: {self.news_in_file} in news.tsv, {self.news_shown} of them shown"]
        if self.unknown_news:
            done = ("kept as items with topic 'unknown' and no title" if self.unknown_action == "keep" else
                    f"dropped: {self.dropped} shown item(s) and history entries not imported, "
                    f"{self.emptied_rows} impression line(s) left empty")
            out.append(f"unknown news: {self.unknown_news} id(s) missing from news.tsv, shown {self.unknown_refs} "
                       f"time(s) ({self.unknown_clicks} clicks) in {self.unknown_rows} impression line(s)"
                       + (f", {self.history_unknown} history entries" if self.history else "") + f"; {done}")
        else:
            out.append("unknown news: none, every imported id is in news.tsv")
        return [*out, f"history: {self.history_entries} entries, {self.history_added} distinct (user, news) clicks "
                "added just before each user's first impression" if self.history else
                "history: click histories not imported (history=True / --history imports them)",
                f"interactions: {self.interactions}; absent in MIND, filled with 0: {', '.join(self.absent_signals)}",
                "labels: use clicks only: w_click=1, w_dwell=0, w_share=0, w_comment=0, w_hide=0, threshold=0.5 "
                "(CLI: --w-dwell 0 --w-share 0 --w-comment 0 --w-hide 0 --threshold 0.5); the default "
                "threshold 2 labels nothing positive here",
                f"neutral values: publisher {PUBLISHER}, quality_score {NEUTRAL}, region_restriction ALL, region "
                f"{REGION}, device_type {DEVICE}, avg_session_length 0, empty blocklist, affinities {NEUTRAL}; "
                "publish_timestamp = first interaction time"]


def _show(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _flag(problems: list[str], label: str, mask, lines, texts, what: str) -> None:
    """One message per offending line (at most MAX_LINES), then how many more; `texts` indexable or callable."""
    idx = np.flatnonzero(mask)
    for i in idx[:MAX_LINES]:
        problems.append(f"{label}, line {lines[i]}: {what} (found {_show(texts(i) if callable(texts) else texts[i])})")
    if len(idx) > MAX_LINES:
        problems.append(f"{label}: {len(idx) - MAX_LINES} more line(s) where {what}")


def _read(src: Source, default: str, ncols: int) -> tuple[str, np.ndarray, list[list[str]]]:
    """(file label, line number of each record, columns as lists of text); blank lines skipped."""
    if isinstance(src, bytes | bytearray | memoryview):
        label, data = default, bytes(src)
    else:
        label = Path(src).name
        try:
            data = Path(src).read_bytes()
        except OSError as e:
            raise DataError(f"{src}: cannot read the file ({e.strerror or e})") from e
    skip = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        text = data[skip:].decode("utf-8")
    except UnicodeDecodeError as e:
        at = e.start + skip
        line = data[:at].count(b"\n") + 1
        raise DataError(f"{label}, line {line}: not UTF-8 text (byte 0x{data[at]:02x} "
                        f"at offset {at}); save the file as UTF-8") from e
    text = text.replace("\r\n", "\n")
    lines = text.split("\n" if "\n" in text else "\r")
    numbers = [n for n, line in enumerate(lines, 1) if line.strip()]
    rows = [lines[n - 1].split("\t") for n in numbers]
    bad = np.fromiter(map(len, rows), np.int64, len(rows)) != ncols
    problems: list[str] = []
    _flag(problems, label, bad, numbers, lambda i: lines[numbers[i] - 1], f"expected {ncols} tab-separated columns")
    if problems or not rows:
        raise DataError(problems or f"{label}: the file holds no lines")
    return label, np.asarray(numbers), [list(col) for col in zip(*rows, strict=True)]


@dataclass
class _Tokens:
    row: np.ndarray  # field (line) index of each token
    ids: np.ndarray  # bytes (S) ids
    click: np.ndarray
    bad: np.ndarray
    text: object  # token index -> its text


def _tokens(fields: list[str], labelled: bool) -> _Tokens:
    """Space-separated tokens of every field, cut from one byte buffer (no Python loop per token)."""
    buf = "\t".join(fields).encode("utf-8")
    a = np.frombuffer(buf, np.uint8)
    cut = np.flatnonzero((a == 32) | (a == 9))
    starts, ends = np.concatenate([[0], cut + 1]), np.concatenate([cut, [a.size]])
    row = np.concatenate([[0], np.cumsum(a[cut] == 9)])
    keep = ends > starts  # runs of spaces make empty tokens: skipped
    starts, ends, row = starts[keep], ends[keep], row[keep]
    stop, click, bad = ends, np.ones(len(ends), np.int8), np.zeros(len(ends), bool)
    if labelled:
        last, dash = a[np.maximum(ends - 1, 0)], a[np.maximum(ends - 2, 0)]
        bad = ~((ends - starts >= 3) & (dash == ord("-")) & ((last == ord("0")) | (last == ord("1"))))
        click, stop = np.where(bad, 0, last.astype(np.int8) - ord("0")).astype(np.int8), np.where(bad, starts, ends - 2)
    width = max(int((stop - starts).max(initial=0)), 1)
    mat = np.zeros((len(starts), width), np.uint8)
    for j in range(width):  # one pass per character position
        sel = np.flatnonzero(starts + j < stop)
        mat[sel, j] = a[starts[sel] + j]
    return _Tokens(row, mat.view(f"S{width}").ravel(), click, bad,
                   lambda i: buf[starts[i]:ends[i]].decode("utf-8", "replace"))


def _frame(user, content, click, ts, position, impression) -> pd.DataFrame:
    """Interactions from 0-based user and content positions; position None: all missing."""
    n = len(user)
    pos = pd.arrays.IntegerArray(np.zeros(n, np.int64), np.ones(n, bool)) if position is None else \
        pd.array(position, dtype="Int64")
    return pd.DataFrame({S.USER_ID: user.astype(np.int64) + 1, S.CONTENT_ID: content.astype(np.int64) + 1,
                         S.CLICK: click, S.DWELL: np.zeros(n), **{c: np.zeros(n, np.int8) for c in ABSENT[1:]},
                         S.EVENT_TS: ts, POSITION: pos, IMPRESSION: impression})


def _stripped(values: list[str]) -> np.ndarray:
    return np.array([v.strip() for v in values], dtype=object)


def import_mind(behaviors: Source, news: Source, *, unknown_news: Literal["keep", "drop"], history: bool = False,
                names: tuple[str, str] = ("behaviors.tsv", "news.tsv"),
                ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, MindReport]:
    """(users, content, interactions, report) in the lab's schema; `names` label bytes inputs in messages."""
    if unknown_news not in ("keep", "drop"):
        raise ValueError(f"unknown_news must be 'keep' or 'drop', got {unknown_news!r}")
    blabel, blines, (imp_ids, user_txt, when, hist, imps) = _read(behaviors, names[0], 5)
    nlabel, nlines, (news_txt, category, subcat, title, *_) = _read(news, names[1], 8)
    problems: list[str] = []
    users = _stripped(user_txt)
    times = pd.to_datetime(pd.Series(_stripped(when)), format=TIME_FORMAT, errors="coerce")
    imp = _tokens(imps, labelled=True)
    n_rows = len(users)
    per_row = np.bincount(imp.row, minlength=n_rows)
    _flag(problems, blabel, users == "", blines, user_txt, "the user id is empty")
    _flag(problems, blabel, times.isna().to_numpy(), blines, when, "the time is not like 11/15/2019 8:55:22 AM")
    _flag(problems, blabel, per_row == 0, blines, imps, "no shown items")
    if imp.bad.any():
        _flag(problems, blabel, imp.bad, blines[imp.row], imp.text, "an impression token is not <news id>-<0 or 1>")
    news_ids, cats = _stripped(news_txt), _stripped(category)
    _flag(problems, nlabel, news_ids == "", nlines, news_txt, "the news id is empty")
    _flag(problems, nlabel, pd.Series(news_ids).duplicated().to_numpy(), nlines, news_ids,
          "the news id repeats an earlier line")
    _flag(problems, nlabel, cats == "", nlines, category, "the category is empty")
    if problems:
        raise DataError(problems)

    tvals = times.to_numpy()  # naive until the frames are done, then UTC
    user_code, user_names = pd.factorize(users, sort=True)
    hst = _tokens(hist if history else [], labelled=False)
    width = max(imp.ids.itemsize, hst.ids.itemsize, max(map(len, (n.encode() for n in news_ids)), default=1))
    news_b = np.array([n.encode() for n in news_ids], dtype=f"S{width}")
    known_sorted = np.sort(news_b)

    def known(ids: np.ndarray) -> np.ndarray:
        if not len(known_sorted):
            return np.zeros(len(ids), bool)
        pos = np.searchsorted(known_sorted, ids).clip(max=len(known_sorted) - 1)
        return known_sorted[pos] == ids

    imp_ids_b, hst_ids_b = imp.ids.astype(f"S{width}"), hst.ids.astype(f"S{width}")
    imp_known, hst_known = known(imp_ids_b), known(hst_ids_b)
    unknown_ids = np.unique(np.concatenate([imp_ids_b[~imp_known], hst_ids_b[~hst_known]]))
    keep_all = unknown_news == "keep"
    all_ids = np.unique(np.concatenate([news_b, unknown_ids])) if keep_all else np.sort(news_b)

    # impressions: one interaction per shown item
    position = np.arange(len(imp.row)) - np.searchsorted(imp.row, imp.row) + 1
    take = imp_known | keep_all
    rows = imp.row[take]
    inter = _frame(user_code[rows], np.searchsorted(all_ids, imp_ids_b[take]), imp.click[take], tvals[rows],
                   position[take], _stripped(imp_ids)[rows])

    # history: distinct (user, news) clicks, one second apart, just before each user's first impression
    rank = np.argsort(np.lexsort((np.arange(n_rows), tvals, user_code)))  # lines by user, then time
    h_take = hst_known | keep_all
    h_rows, h_content = hst.row[h_take], np.searchsorted(all_ids, hst_ids_b[h_take])
    seq = np.argsort(rank[h_rows], kind="stable")
    key = user_code[h_rows[seq]].astype(np.int64) * (len(all_ids) + 1) + h_content[seq]  # first of each pair
    seq = seq[np.sort(np.unique(key, return_index=True)[1])]
    h_user = user_code[h_rows[seq]]
    first_t = pd.Series(tvals).groupby(user_code).min().to_numpy()
    nth = np.arange(len(seq)) - np.searchsorted(h_user, h_user)
    count = np.searchsorted(h_user, h_user, side="right") - np.searchsorted(h_user, h_user)
    h_time = first_t[h_user] - (count - nth).astype("timedelta64[s]")
    h_frame = _frame(h_user, h_content[seq], np.ones(len(seq), np.int8), h_time, None, np.full(len(seq), "", object))
    inter = pd.concat([h_frame, inter], ignore_index=True) if len(h_frame) else inter

    # content: news.tsv rows and (keep) unknown news, publish time = first interaction
    in_file = np.searchsorted(known_sorted, all_ids).clip(max=max(len(news_b) - 1, 0))
    hit = known_sorted[in_file] == all_ids if len(news_b) else np.zeros(len(all_ids), bool)
    src = np.argsort(news_b, kind="stable")[in_file]
    pick = lambda col, fill: np.where(hit, np.asarray(col, dtype=object)[src], fill)  # noqa: E731
    first_seen = inter.groupby(S.CONTENT_ID)[S.EVENT_TS].min()
    published = pd.Series(np.arange(1, len(all_ids) + 1)).map(first_seen).fillna(tvals.min())
    content = pd.DataFrame({
        S.CONTENT_ID: np.arange(1, len(all_ids) + 1, dtype=np.int64),
        MIND_NEWS: [b.decode() for b in all_ids], S.PUBLISHER: PUBLISHER, S.TOPIC: pick(cats, UNKNOWN_TOPIC),
        SUBCATEGORY: pick(_stripped(subcat), ""), TITLE: [t.replace("\r", " ") for t in pick(title, "")],
        S.QUALITY: NEUTRAL, S.RESTRICTION: S.ALL_REGIONS, S.PUBLISHED: published.to_numpy()})
    inter[S.EVENT_TS] = inter[S.EVENT_TS].dt.tz_localize("UTC")
    content[S.PUBLISHED] = content[S.PUBLISHED].dt.tz_localize("UTC")
    topics = sorted(set(content[S.TOPIC]))
    users_frame = pd.DataFrame({
        S.USER_ID: np.arange(1, len(user_names) + 1, dtype=np.int64), MIND_USER: np.asarray(user_names, dtype=object),
        S.DEVICE: DEVICE, S.REGION: REGION, S.SESSION: 0.0, S.BLOCKLIST: "",
        **{f"{S.AFFINITY_PREFIX}{t}": NEUTRAL for t in topics}})

    unknown_tok = ~imp_known
    emptied = int(((per_row > 0) & (np.bincount(rows, minlength=n_rows) == 0)).sum())
    report = MindReport(
        impressions=n_rows, shown=len(imp.row), clicks=int(imp.click.sum()), users=len(user_names),
        news_in_file=len(news_b), news_shown=len(np.unique(imp_ids_b[imp_known])), unknown_news=len(unknown_ids),
        unknown_refs=int(unknown_tok.sum()), unknown_clicks=int(imp.click[unknown_tok].sum()),
        unknown_rows=len(np.unique(imp.row[unknown_tok])), unknown_action=unknown_news,
        dropped=0 if keep_all else int(unknown_tok.sum() + (~hst_known).sum()), emptied_rows=emptied,
        history=history, history_entries=len(hst.row), history_added=len(seq), history_unknown=int((~hst_known).sum()),
        interactions=len(inter), first_time=f"{pd.Timestamp(tvals.min()):{ISO}}",
        last_time=f"{pd.Timestamp(tvals.max()):{ISO}}")
    return users_frame, content, inter, report
