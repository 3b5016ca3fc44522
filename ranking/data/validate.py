"""Checks and typing of the input tables; every problem is collected, none stops the others.

Frames in, typed frames and messages out: reading and writing files is `ranking.data`'s job,
and its docstring lists which findings are errors and which are warnings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
from pandas.api import types as pdt

from ranking.data import schema as S

MAX_ROWS = 8  # row numbers listed per message
MAX_VALUES = 5  # distinct offending values listed per message
MAX_CHARS = 30  # characters shown per value
_ID_PATTERN = r"[+-]?\d{1,18}"


@dataclass
class Report:
    """Problems (errors) and warnings, in the order found."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, message: str, *, warn: bool = False) -> None:
        """Record one self-contained message."""
        (self.warnings if warn else self.problems).append(message)


@dataclass
class Table:
    """One input table: the file name used in messages, its frame, and each row's data-row number."""

    label: str
    frame: pd.DataFrame
    rows: np.ndarray | None = None  # 1-based: row 1 is the first line after the header

    def __post_init__(self) -> None:
        self.frame = self.frame.reset_index(drop=True)
        if self.rows is None:
            self.rows = np.arange(1, len(self.frame) + 1)

    def flag(self, rep: Report, col: str, mask, what: str, *, show: bool = True, warn: bool = False) -> None:
        """Report the rows where `mask` holds, with the offending input values."""
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            got = f" (got {values_text(self.frame[col].to_numpy()[mask])})" if show else ""
            rep.add(f"{self.label}, column '{col}', {rows_text(self.rows[mask])}: {what}{got}", warn=warn)


def rows_text(rows) -> str:
    """'row 3' or 'rows 3, 7, 12 … (+40 more)'."""
    rows = list(rows)
    more = f" … (+{len(rows) - MAX_ROWS} more)" if len(rows) > MAX_ROWS else ""
    return f"row{'s' if len(rows) > 1 else ''} {', '.join(map(str, rows[:MAX_ROWS]))}{more}"


def values_text(values) -> str:
    """Distinct values, repr'd and truncated: "'2', 'x' … (+3 more)"."""
    uniq = list(dict.fromkeys("" if _missing(v) else str(v) for v in values))
    cut = [v if len(v) <= MAX_CHARS else v[: MAX_CHARS - 1] + "…" for v in uniq[:MAX_VALUES]]
    more = f" … (+{len(uniq) - MAX_VALUES} more)" if len(uniq) > MAX_VALUES else ""
    return ", ".join(map(repr, cut)) + more


def _missing(v) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v))


def _text(s: pd.Series) -> np.ndarray:
    """Cells as stripped strings, '' where missing; works on string and typed columns."""
    cells = s.to_numpy(dtype=object, na_value="")
    return np.array([v.strip() if isinstance(v, str) else str(v) for v in cells], dtype=object)


def _empty(t: Table, col: str, rep: Report, empty: np.ndarray) -> None:
    t.flag(rep, col, empty, "empty cells; a value is required", show=False)


# Column converters: (table, column, report) -> typed values; invalid cells become placeholders
# (NaN, NaT, <NA> or 0), which never escape because any problem makes the load fail.


def _ids(t: Table, col: str, rep: Report, *, unique: bool = False) -> pd.Series:
    s = t.frame[col]
    if pdt.is_numeric_dtype(s) and not pdt.is_bool_dtype(s):
        x = s.to_numpy(dtype=np.float64, na_value=np.nan)
        empty = np.isnan(x)
        ok = ~empty & np.isfinite(x) & (np.abs(x) < 2**53)
        ok[ok] = x[ok] == np.round(x[ok])
        ids = pd.array(np.where(ok, x, 0).astype(np.int64), dtype="Int64")
    else:
        txt = pd.Series(_text(s), dtype=object)
        try:  # fast path: every cell is an integer
            parsed = pd.to_numeric(txt)
        except (ValueError, TypeError):
            parsed = None
        if parsed is not None and parsed.dtype.kind == "i":
            empty, ok = np.zeros(len(txt), bool), np.ones(len(txt), bool)
            ids = pd.array(parsed, dtype="Int64")
        else:
            empty = (txt == "").to_numpy()
            ok = txt.str.fullmatch(_ID_PATTERN).fillna(False).to_numpy(dtype=bool)
            ids = pd.array(pd.to_numeric(txt.where(ok, "0")).astype(np.int64), dtype="Int64")
    _empty(t, col, rep, empty)
    t.flag(rep, col, ~ok & ~empty, "ids must be whole numbers (at most 18 digits)")
    ids[~ok] = pd.NA
    if unique:
        t.flag(rep, col, pd.Series(ids).duplicated(keep=False).to_numpy() & ok, "duplicate ids")
    return pd.Series(ids)


def _number(t, col, rep, *, lo=None, hi=None, whole=False, choices=None, dtype=np.float64,
            may_be_empty=False) -> np.ndarray:
    """A numeric column, every problem flagged; ``may_be_empty``: an empty cell means "not recorded"
    (0 in an integer column, NaN otherwise), as in a MIND history click, which has no slate position."""
    s = t.frame[col]
    if pdt.is_numeric_dtype(s):
        x = s.to_numpy(dtype=np.float64, na_value=np.nan)
        empty, bad = np.isnan(x), np.isinf(x)
    else:
        txt = _text(s)
        empty = txt == ""
        x = np.asarray(pd.to_numeric(txt, errors="coerce"), dtype=np.float64)
        bad = ~empty & ~np.isfinite(x)
    if not may_be_empty:
        _empty(t, col, rep, empty)
    ok = ~empty & ~bad
    if choices is not None:
        wrong = bad | (ok & ~np.isin(x, choices))
        t.flag(rep, col, wrong, f"values must be {' or '.join(map(str, choices))}")
    else:
        t.flag(rep, col, bad, "values must be numbers")
        wrong = ok & (((x < lo) if lo is not None else False) | ((x > hi) if hi is not None else False))
        if whole:
            wrong |= ok & (x != np.round(x))
        kind = "whole numbers" if whole else "values"
        rule = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
        t.flag(rep, col, wrong, f"{kind} must be {rule}" if lo is not None else kind)
    ok &= ~wrong
    if np.issubdtype(dtype, np.integer):
        return np.where(ok, x, 0).astype(dtype)
    return np.where(ok, x, np.nan).astype(dtype)


def _category(t, col, rep, *, allowed=None, usual=None) -> pd.Categorical:
    txt = _text(t.frame[col])
    empty = txt == ""
    _empty(t, col, rep, empty)
    present = sorted(set(txt[~empty]))
    if allowed is not None:
        wrong = ~empty & ~np.isin(txt, allowed)
        t.flag(rep, col, wrong, f"values must be one of {', '.join(allowed)}")
        empty |= wrong
        categories = list(allowed)
    elif usual is not None:
        what = f"unusual values, kept as they are (expected {', '.join(usual)})"
        t.flag(rep, col, ~empty & ~np.isin(txt, usual), what, warn=True)
        categories = [*usual, *(v for v in present if v not in usual)]
    else:
        categories = present
    return pd.Categorical(np.where(empty, None, txt), categories=categories)


def _timestamps(t: Table, col: str, rep: Report) -> pd.Series:
    s = t.frame[col]
    if pdt.is_datetime64_any_dtype(s):
        ts = s.dt.tz_localize("UTC") if s.dt.tz is None else s.dt.tz_convert("UTC")
        empty, bad = ts.isna().to_numpy(), np.zeros(len(s), dtype=bool)
    else:
        txt = _text(s)
        empty = txt == ""
        raw = pd.Series(np.where(empty, None, txt), dtype=object)
        ts = pd.to_datetime(raw, utc=True, format="ISO8601", errors="coerce")
        bad = ~empty & ts.isna().to_numpy()
    lo, hi = (pd.Timestamp(v, tz="UTC") for v in (pd.Timestamp.min, pd.Timestamp.max))
    far = ((ts < lo) | (ts > hi)).to_numpy()  # beyond what datetime64[ns] can hold
    _empty(t, col, rep, empty)
    t.flag(rep, col, bad, "values must be ISO 8601 times like 2025-04-01T08:20:00Z (or +02:00), or dates")
    t.flag(rep, col, far, f"times must fall between {lo.year + 1} and {hi.year - 1}")
    return ts.where(~(bad | far)).astype("datetime64[ns, UTC]")


def _propensity(t: Table, col: str, rep: Report) -> np.ndarray:
    """The logging policy's probability of the impression: a number in (0, 1]."""
    x = _number(t, col, rep, lo=0, hi=1, may_be_empty=True)
    t.flag(rep, col, x == 0, "values must be > 0 (a logged impression had some chance of being shown)")
    return np.where(x == 0, np.nan, x)


def _blocklist(t: Table, col: str, rep: Report) -> pd.Series:
    entries = (";".join(p.strip() for p in v.split(";") if p.strip()) for v in _text(t.frame[col]))
    return pd.Series(list(entries), dtype=str)


_UNIT = partial(_number, lo=0, hi=1, dtype=np.float32)
_BINARY = partial(_number, choices=(0, 1), dtype=np.int8)
USERS = {
    S.USER_ID: partial(_ids, unique=True),
    S.DEVICE: partial(_category, usual=S.DEVICES),
    S.REGION: partial(_category, allowed=S.REGIONS),
    S.SESSION: partial(_number, lo=0, dtype=np.float32),
    S.BLOCKLIST: _blocklist,
}
CONTENT = {
    S.CONTENT_ID: partial(_ids, unique=True),
    S.PUBLISHER: _category,
    S.TOPIC: _category,
    S.QUALITY: _UNIT,
    S.RESTRICTION: partial(_category, allowed=(S.ALL_REGIONS, *S.REGIONS)),
    S.PUBLISHED: _timestamps,
}
CONTENT_OPTIONAL = {S.TITLE: lambda t, col, rep: pd.Series(_text(t.frame[col]), dtype=str)}
INTERACTIONS = {
    S.USER_ID: _ids,
    S.CONTENT_ID: _ids,
    S.CLICK: _BINARY,
    S.DWELL: partial(_number, lo=0),
    S.SHARE: _BINARY,
    S.COMMENT: partial(_number, lo=0, hi=np.iinfo(np.int16).max, whole=True, dtype=np.int16),
    S.HIDE: _BINARY,
    S.EVENT_TS: _timestamps,
}
INTERACTIONS_OPTIONAL = {
    S.POSITION: partial(_number, lo=1, whole=True, dtype=np.int32, may_be_empty=True),  # 0: not recorded
    S.PROPENSITY: _propensity,
}
TRUTH = {S.USER_ID: _ids, S.CONTENT_ID: _ids,
         **{name: partial(_number, lo=0, hi=1, dtype=np.float32) for name in S.SIGNALS}}
TRUTH[S.E_DWELL] = TRUTH[S.E_COMMENT] = partial(_number, lo=0, dtype=np.float32)


def check_table(t: Table, converters: dict, rep: Report, *, prefix: str | None = None,
                optional: dict | None = None) -> pd.DataFrame | None:
    """Check the header and every cell of one table; the typed frame, or None if it has no rows.

    ``optional`` columns are checked and typed when present, and never missed when absent.
    """
    cols = [str(c) for c in t.frame.columns]
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        rep.add(f"{t.label}: duplicate column names {values_text(dup)}; each column must appear once")
        t.frame = t.frame.loc[:, ~t.frame.columns.duplicated()]
        cols = [str(c) for c in t.frame.columns]
    converters = {**converters, **{c: _UNIT for c in cols if prefix and c.startswith(prefix)}}
    missing = [c for c in converters if c not in cols]
    converters = {**converters, **(optional or {})}
    if missing:
        near = [c for c in cols if c.lower() in {m.lower() for m in missing}]
        hint = f" (names are case-sensitive: {values_text(near)} differs)" if near else ""
        found = f"found {values_text(cols)}{hint}"
        old = " (p_engage: a truth.csv from an older generator; regenerate the world)" if "p_engage" in cols else ""
        rep.add(f"{t.label}: missing required column(s) {values_text(missing)}; {found}{old}")
    if prefix and not any(c.startswith(prefix) for c in cols):
        rep.add(f"{t.label}: no '{prefix}<topic>' column; at least one user affinity column is required")
    extra = [c for c in cols if c not in converters]
    if extra:
        rep.add(f"{t.label}: extra column(s) {values_text(extra)} kept but not used", warn=True)
    if len(t.frame) == 0:
        rep.add(f"{t.label}: no data rows (only a header, or nothing)")
        return None
    out = t.frame.copy()
    for col, convert in converters.items():
        if col in cols:
            out[col] = convert(t, col, rep)
    return out


def _topic_of(col: str, by_lower: dict[str, str]) -> tuple[int, str] | list[str]:
    """(rank, topic) for an affinity column: exact name 0, alias 1, unique prefix 2; else the candidates."""
    key = col.removeprefix(S.AFFINITY_PREFIX).lower()
    alias = S.TOPIC_ALIASES.get(key, "").lower()
    starts = [tp for low, tp in by_lower.items() if key and low.startswith(key)]
    if key in by_lower:
        return 0, by_lower[key]
    if alias in by_lower:
        return 1, by_lower[alias]
    return (2, starts[0]) if len(starts) == 1 else starts


def affinity_map(columns: list[str], topics, label: str, rep: Report) -> dict[str, str]:
    """Map each content topic to its affinity column (rule in `ranking.data`'s docstring)."""
    by_lower = {str(tp).lower(): str(tp) for tp in topics}
    found: dict[str, tuple[int, str]] = {}
    for col in columns:
        hit = _topic_of(col, by_lower)
        if isinstance(hit, list):
            known = ", ".join(sorted(by_lower.values()))
            why = f"could mean {' or '.join(hit)}" if hit else f"matches no content topic ({known})"
            rep.add(f"{label}, column '{col}': {why}; kept but not used as an affinity", warn=True)
            continue
        rank, topic = hit
        if topic in found:
            keep, drop = sorted([found[topic], (rank, col)])
            found[topic] = keep
            rep.add(f"{label}: columns '{keep[1]}' and '{drop[1]}' both match topic '{topic}'; "
                    f"'{drop[1]}' is kept but not used", warn=True)
        else:
            found[topic] = (rank, col)
    return {topic: col for topic, (_, col) in found.items()}


def check_links(users: pd.DataFrame, content: pd.DataFrame, inter: Table, typed: pd.DataFrame,
                labels: dict[str, str], rep: Report) -> None:
    """Cross-table checks: unknown ids (errors), repeated pairs and events before publication (warnings)."""
    for col, table, key in ((S.USER_ID, users, "users"), (S.CONTENT_ID, content, "content")):
        if table is not None and col in typed and col in table:
            ids = typed[col]
            inter.flag(rep, col, (ids.notna() & ~ids.isin(table[col].dropna())).to_numpy(),
                       f"ids not found in {labels[key]}")
    if S.USER_ID in typed and S.CONTENT_ID in typed:
        pair = typed[[S.USER_ID, S.CONTENT_ID]]
        again = (pair.duplicated() & pair.notna().all(axis=1)).to_numpy()
        if again.any():
            rep.add(f"{inter.label}, {rows_text(inter.rows[again])}: {again.sum()} row(s) repeat an earlier "
                    "(user_id, content_id) pair; kept as repeated impressions", warn=True)
    if content is not None and {S.CONTENT_ID, S.PUBLISHED} <= set(content) and S.EVENT_TS in typed:
        when = content.dropna(subset=[S.CONTENT_ID]).drop_duplicates(S.CONTENT_ID)
        published = typed[S.CONTENT_ID].map(when.set_index(S.CONTENT_ID)[S.PUBLISHED])
        early = (typed[S.EVENT_TS] < published).to_numpy(dtype=bool)
        what = f"{early.sum()} event(s) before their item's {S.PUBLISHED} in {labels['content']}; kept"
        inter.flag(rep, S.EVENT_TS, early, what, warn=True)


def check_blocklists(users: pd.DataFrame, content: pd.DataFrame, label: str, rep: Report) -> None:
    """Warn about blocklist entries that name no publisher: such a filter removes nothing."""
    if S.BLOCKLIST not in users or S.PUBLISHER not in content:
        return
    entries = users[S.BLOCKLIST].str.split(";")
    known = set(content[S.PUBLISHER].dropna().astype(str))
    unknown = entries.map(lambda es: sorted(e for e in es if e and e not in known))
    names = sorted({e for es in unknown for e in es})
    if names:
        rep.add(f"{label}, column '{S.BLOCKLIST}': entries {values_text(names)} name no publisher in the "
                f"content table ({(unknown.str.len() > 0).sum()} users); they filter nothing", warn=True)


def truth_matrix(t: Table, users: pd.DataFrame, content: pd.DataFrame, rep: Report) -> dict | None:
    """users × items float32 matrix per signal (Dataset row order) from long truth.csv rows."""
    frame = check_table(t, TRUTH, rep)
    if frame is None or not {S.USER_ID, S.CONTENT_ID, *S.SIGNALS} <= set(frame):
        return None
    if S.USER_ID not in users or S.CONTENT_ID not in content:
        return None
    user_ix = pd.Index(users[S.USER_ID].astype("float64"))
    item_ix = pd.Index(content[S.CONTENT_ID].astype("float64"))
    if not (user_ix.is_unique and item_ix.is_unique):
        return None  # duplicate ids are reported for their own table
    ui = user_ix.get_indexer(frame[S.USER_ID].astype("float64"))
    ci = item_ix.get_indexer(frame[S.CONTENT_ID].astype("float64"))
    for col, pos, where in ((S.USER_ID, ui, "users"), (S.CONTENT_ID, ci, "content")):
        t.flag(rep, col, (pos < 0) & frame[col].notna().to_numpy(), f"ids not found in the {where} table")
    pair = frame[[S.USER_ID, S.CONTENT_ID]]
    t.flag(rep, S.USER_ID, (pair.duplicated(keep=False) & pair.notna().all(axis=1)).to_numpy(),
           "(user_id, content_id) pairs must appear once")
    ok = (ui >= 0) & (ci >= 0)
    out = {}
    for name in S.SIGNALS:
        out[name] = np.full((len(users), len(content)), np.nan, dtype=np.float32)
        out[name][ui[ok], ci[ok]] = frame[name].to_numpy()[ok]
    return out


def check_tables(tables: dict[str, Table | None], rep: Report):
    """Check and type users, content and interactions; (users, content, interactions, affinity)."""
    users, content, inter = (tables[k] for k in ("users", "content", "interactions"))
    labels = {k: (t.label if t is not None else k) for k, t in tables.items()}
    u = check_table(users, USERS, rep, prefix=S.AFFINITY_PREFIX) if users is not None else None
    c = check_table(content, CONTENT, rep, optional=CONTENT_OPTIONAL) if content is not None else None
    i = check_table(inter, INTERACTIONS, rep, optional=INTERACTIONS_OPTIONAL) if inter is not None else None
    affinity: dict[str, str] = {}
    if u is not None and c is not None and S.TOPIC in c:
        columns = [col for col in u.columns if str(col).startswith(S.AFFINITY_PREFIX)]
        affinity = affinity_map(columns, c[S.TOPIC].dropna().unique(), labels["users"], rep)
        lacking = sorted(set(map(str, c[S.TOPIC].dropna().unique())) - set(affinity))
        if lacking and columns:
            rep.add(f"{labels['content']}, column '{S.TOPIC}': topics {values_text(lacking)} have no "
                    f"{S.AFFINITY_PREFIX}* column in {labels['users']}; no user affinity is known for them",
                    warn=True)
        check_blocklists(u, c, labels["users"], rep)
    if i is not None:
        check_links(u, c, inter, i, labels, rep)
    for frame, cols in ((u, [S.USER_ID]), (c, [S.CONTENT_ID]), (i, [S.USER_ID, S.CONTENT_ID])):
        for col in cols:
            if frame is not None and col in frame and not rep.problems:
                frame[col] = frame[col].astype(np.int64)
    return u, c, i, affinity
