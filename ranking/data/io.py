"""Reading and writing the lab's table files: the only module of `ranking` that touches files.

A dataset is a folder (or a set of uploaded files) holding Users.csv, Content.csv and
Interaction.csv (names matched ignoring case; see `schema.FILE_NAMES`), optionally truth.csv
(user_id, content_id, p_engage) and world.json (a generated world's spec). Files may start with a
UTF-8 BOM and use CR, LF or CRLF line endings. Every cell is read as text, so "NA" stays North
America; `from_frames` then checks and types everything and collects *all* findings.

Row numbers in messages are 1-based data rows: row 1 is the first line after the header
(blank lines count, so the number matches what an editor shows, minus one).

Errors (raise `DataError` listing every one):
  a table file missing, or two files matching one table; a file that is empty or has only a header;
  bytes that are not UTF-8 (byte offset and row given); rows with the wrong number of fields;
  a quoted value running over several lines (an open quote would swallow the rows after it);
  duplicate or missing required columns; no `topic_affinity_*` column; empty cells in required
  columns (all but `blocklist`); non-numeric numbers; ids that are not whole numbers; duplicate
  user or content ids; interactions naming unknown users or content (never dropped);
  timestamps that are not ISO 8601 (Z or offset) or dates; quality_score, affinities or p_engage
  outside [0, 1]; negative dwell_time or avg_session_length; click/share/hide not 0 or 1;
  comment not a whole number >= 0; region not in `schema.REGIONS`; region_restriction not ALL or
  a region; in truth.csv, unknown ids or repeated pairs; world.json that is not a JSON object.
Warnings (kept in `Dataset.warnings`; the data is used as it is):
  extra columns (kept, unused); repeated (user_id, content_id) interactions (repeated
  impressions); device_type outside `schema.DEVICES`; events before their item's publish time;
  blocklist entries naming no publisher (true of the seed sample); an affinity column matching no
  topic, or a second column for an already matched topic; topics without an affinity column;
  ignored uploaded files; world.json without `ranking.data.synth` to compute its truth.

Affinity rule: column `topic_affinity_<name>` belongs to the content topic equal to <name>
(ignoring case), else to `schema.TOPIC_ALIASES[<name>]` (tech -> technology), else to the only
topic starting with <name>. If two columns reach one topic, the better rule wins (exact, alias,
prefix; then column order). `Dataset.affinity` maps topic -> column.

Written files are UTF-8 without BOM, LF, no index, timestamps as 2025-04-01T08:20:00Z, floats
in their shortest exact form (float32 columns without float32 noise): same input, same bytes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api import types as pdt

from ranking.data import schema as S
from ranking.data.dataset import Dataset, DenseTruth, Truth, fingerprint_frames
from ranking.data.validate import Report, Table, check_tables, rows_text, truth_matrix
from ranking.data.world import truth_from_spec
from ranking.errors import DataError

TABLES = ("users", "content", "interactions")
DEFAULT_NAMES = {"users": "Users.csv", "content": "Content.csv", "interactions": "Interaction.csv"}
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_BOM = b"\xef\xbb\xbf"


class _SpecTruth:
    """Truth computed on first use from a generated world's spec by `ranking.data.world.truth_from_spec`."""

    def __init__(self, compute, spec: dict, dataset: Dataset):
        self._compute, self._spec, self._dataset, self._truth = compute, spec, dataset, None

    def rows(self, user_pos: np.ndarray) -> np.ndarray:
        """float32 rows of the truth matrix for these user positions."""
        if self._truth is None:
            truth = self._compute(self._spec, self._dataset)
            self._truth = truth if hasattr(truth, "rows") else DenseTruth(np.asarray(truth, np.float32))
        return self._truth.rows(user_pos)


def load_dataset(path: str | Path, name: str | None = None) -> Dataset:
    """Load and validate the tables in a folder; the name defaults to the folder's name."""
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder (expected one holding {', '.join(DEFAULT_NAMES.values())})")
    wanted = {n for names in S.FILE_NAMES.values() for n in names} | {S.TRUTH_FILE, S.WORLD_FILE}
    paths = [p for p in sorted(folder.iterdir()) if p.name.lower() in wanted and p.is_file()]
    files = {p.name: p.read_bytes() for p in paths}
    return _load_files(files, name or folder.resolve().name, report_unused=False)


def load_uploaded(files: Mapping[str, bytes], name: str = "upload") -> Dataset:
    """Load and validate uploaded files, keyed by their names (used only for matching, never as paths)."""
    return _load_files(files, name, report_unused=True)


def from_frames(
    users: pd.DataFrame,
    content: pd.DataFrame,
    interactions: pd.DataFrame,
    *,
    name: str = "dataset",
    truth: Truth | np.ndarray | pd.DataFrame | None = None,
    spec: dict | None = None,
    source_names: Mapping[str, str] | None = None,
) -> Dataset:
    """Validate and type three frames (text or typed); truth: a Truth, users × items array or long frame."""
    labels = {**DEFAULT_NAMES, **(source_names or {})}
    frames = dict(zip(TABLES, (users, content, interactions), strict=True))
    tables = {k: Table(labels[k], f) for k, f in frames.items()}
    return _build(tables, Report(), name=name, truth=truth, spec=spec)


def _build(tables: dict[str, Table | None], rep: Report, *, name: str, truth=None, spec=None) -> Dataset:
    users, content, inter, affinity = check_tables(tables, rep)
    if isinstance(truth, pd.DataFrame):
        truth = Table(S.TRUTH_FILE, truth)
    if isinstance(truth, Table):
        both = users is not None and content is not None
        matrix = truth_matrix(truth, users, content, rep) if both else None
        truth = DenseTruth(matrix) if matrix is not None else None
    elif isinstance(truth, np.ndarray):
        if users is not None and content is not None and truth.shape != (len(users), len(content)):
            rep.add(f"truth: shape {truth.shape} does not match {len(users)} users × {len(content)} items")
        truth = DenseTruth(truth.astype(np.float32))
    if rep.problems:
        raise DataError(rep.problems, rep.warnings)
    compute = truth_from_spec if truth is None and spec is not None else None
    dataset = Dataset(
        users=users, content=content, interactions=inter, affinity=affinity, name=name, truth=truth,
        warnings=tuple(rep.warnings), spec=spec, fingerprint=fingerprint_frames(users, content, inter),
    )
    return replace(dataset, truth=_SpecTruth(compute, spec, dataset)) if compute else dataset


def _load_files(files: Mapping[str, bytes], name: str, *, report_unused: bool) -> Dataset:
    rep = Report()
    by_name: dict[str, list[str]] = {}
    for key in files:
        by_name.setdefault(_base(key).lower(), []).append(key)
    tables: dict[str, Table | None] = {}
    used: set[str] = set()
    for table, accepted in S.FILE_NAMES.items():
        keys = [k for n in accepted for k in by_name.get(n, [])]
        used.update(keys)
        if not keys:
            rep.add(f"missing the {table} table: no file named {' or '.join(accepted)} (letter case ignored)"
                    + (_received(files) if report_unused else ""))
        elif len(keys) > 1:
            rep.add(f"files {', '.join(map(repr, keys))} all match the {table} table; keep only one")
        tables[table] = _parse_csv(_base(keys[0]), files[keys[0]], rep) if len(keys) == 1 else None
    extra = {n: (by_name.get(n) or [None])[0] for n in (S.TRUTH_FILE, S.WORLD_FILE)}
    used.update(k for k in extra.values() if k)
    unused = sorted(set(files) - used)
    if report_unused and unused:
        rep.add(f"ignored uploaded file(s) {', '.join(map(repr, unused))}", warn=True)
    spec = _parse_spec(extra[S.WORLD_FILE], files, rep)
    key = extra[S.TRUTH_FILE]
    truth = _parse_csv(_base(key), files[key], rep) if key else None
    return _build(tables, rep, name=name, truth=truth, spec=spec)


def _received(files: Mapping[str, bytes]) -> str:
    """For an upload missing a table: what arrived, and why a picked file may not have."""
    from ranking.data.limits import UPLOAD_LIMIT_MB

    got = ", ".join(repr(_base(k)) for k in sorted(files)) or "no file"
    return (f"; received {got}. Files over {UPLOAD_LIMIT_MB} MB are refused by the upload widget before the lab "
            "sees them (server.maxUploadSize in .streamlit/config.toml)")


def _base(key: str) -> str:
    """An uploaded name without any folder part (names are only matched, never opened)."""
    return re.split(r"[\\/]", key)[-1]


def _parse_spec(key: str | None, files: Mapping[str, bytes], rep: Report) -> dict | None:
    if key is None:
        return None
    try:
        spec = json.loads(files[key].decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        rep.add(f"{_base(key)}: not valid UTF-8 JSON ({e})")
        return None
    if not isinstance(spec, dict):
        rep.add(f"{_base(key)}: must hold a JSON object, got {type(spec).__name__}")
        return None
    return spec


def _parse_csv(label: str, data: bytes, rep: Report) -> Table | None:
    """Split CSV bytes into an all-text Table, reporting undecodable bytes and malformed rows."""
    skip = len(_BOM) if data.startswith(_BOM) else 0
    try:
        text = data[skip:].decode("utf-8")
    except UnicodeDecodeError as e:
        offset = e.start + skip
        row = len(re.findall(rb"\r\n|\r|\n", data[:offset]))
        where = f"row {row}" if row else "the header"
        rep.add(f"{label}: not UTF-8 text: byte {offset} (0x{data[offset]:02x}, in {where}) cannot be "
                "decoded; save the file as UTF-8")
        return None
    split = _split(label, text, rep)
    if split is None:
        return None
    records, starts, ends = split
    lens = np.fromiter(map(len, records), dtype=np.int64, count=len(records))
    blank = lens == 0
    ones = np.flatnonzero(lens == 1)
    blank[ones] = [not records[i][0].strip() for i in ones]
    filled = np.flatnonzero(~blank)
    if not filled.size:
        rep.add(f"{label}: the file is empty (no header row)")
        return None
    header = [field.strip() for field in records[filled[0]]]
    rows = starts - starts[filled[0]]  # row 1 is the first line after the header
    body = filled[1:]
    spread = body[ends[body] > starts[body]]  # no cell of ours may hold a line break
    if spread.size:
        rep.add(f"{label}, {rows_text(rows[spread])}: a quoted value runs over "
                f"{', '.join(map(str, ends[spread] - starts[spread] + 1))} lines; is a quote left open?")
    body = body[ends[body] == starts[body]]
    good, bad = body[lens[body] == len(header)], body[lens[body] != len(header)]
    if bad.size:
        counts = ", ".join(dict.fromkeys(map(str, lens[bad])))
        rep.add(f"{label}, {rows_text(rows[bad])}: wrong number of fields: the header has "
                f"{len(header)}, these rows have {counts} (an unquoted comma or a missing value?)")
    if body.size and not good.size:
        return None  # every row is malformed: nothing left to check
    frame = pd.DataFrame([records[i] for i in good] or None, columns=header, dtype=str)
    return Table(label, frame, rows[good])


def _split(label: str, text: str, rep: Report) -> tuple[list[list[str]], np.ndarray, np.ndarray] | None:
    """CSV records and the lines each starts and ends on (1-based); CR, LF and CRLF read alike."""
    reader = csv.reader(io.StringIO(text, newline=None))
    try:
        records = list(reader)
        if reader.line_num == len(records):  # no quoted line breaks: record k is line k
            lines = np.arange(1, len(records) + 1)
            return records, lines, lines
        reader, ends = csv.reader(io.StringIO(text, newline=None)), []
        for _ in reader:
            ends.append(reader.line_num)
        ends = np.asarray(ends, dtype=np.int64)
        return records, np.concatenate([[1], ends[:-1] + 1]), ends
    except csv.Error as e:
        rep.add(f"{label}, near line {reader.line_num} of the file: cannot parse CSV ({e}); "
                "is a quote left open?")
        return None


def write_tables(
    out_dir: str | Path,
    users: pd.DataFrame,
    content: pd.DataFrame,
    interactions: pd.DataFrame,
    *,
    truth: pd.DataFrame | None = None,
    spec: dict | None = None,
) -> None:
    """Write Users.csv, Content.csv, Interaction.csv, and truth.csv / world.json when given."""
    out = Path(out_dir)
    for key, frame in zip(TABLES, (users, content, interactions), strict=True):
        write_csv(out / DEFAULT_NAMES[key], frame)
    if truth is not None:
        truth = truth.copy()
        truth[S.P_ENGAGE] = ["" if np.isnan(v) else f"{v:.4f}" for v in truth[S.P_ENGAGE].astype(np.float64)]
        write_csv(out / S.TRUTH_FILE, truth)
    if spec is not None:
        write_json(out / S.WORLD_FILE, spec)


def write_labelled(path: str | Path, interactions_with_score_and_label: pd.DataFrame) -> None:
    """Write interactions with their engagement score and label (see ``labelled_bytes``)."""
    write_bytes(Path(path), labelled_bytes(interactions_with_score_and_label))


def labelled_bytes(interactions_with_score_and_label: pd.DataFrame) -> bytes:
    """Labelled interactions as CSV bytes, the score rounded to 6 decimals (the CLI's and the app's file)."""
    df = interactions_with_score_and_label.copy()
    if S.SCORE in df:
        df[S.SCORE] = df[S.SCORE].astype(np.float64).round(6)
    return csv_bytes(df)


def write_csv(path: str | Path, df: pd.DataFrame) -> None:
    """Write a frame as CSV in the lab's format (see ``csv_bytes``)."""
    write_bytes(Path(path), csv_bytes(df))


def csv_bytes(df: pd.DataFrame) -> bytes:
    """A frame as the lab's CSV bytes (UTF-8, LF, no index, Z timestamps, shortest exact floats).

    The CLI writes these bytes and the app offers the same bytes as downloads.
    """
    text = pd.DataFrame({c: _format(df[c]) for c in df.columns}, columns=df.columns)
    return text.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _format(s: pd.Series) -> list[str]:
    """One column as text: '' for missing, shortest exact floats, UTC timestamps with Z."""
    missing = s.isna().to_numpy()
    if pdt.is_datetime64_any_dtype(s):
        utc = s.dt.tz_convert("UTC") if s.dt.tz is not None else s
        txt = utc.dt.strftime(TIME_FORMAT).to_numpy(dtype=object, na_value="")
    elif pdt.is_float_dtype(s):
        values = s.to_numpy(dtype=np.float32 if s.dtype == np.float32 else np.float64, na_value=np.nan)
        # numpy's str() is the shortest text that reads back to the same float32/float64
        txt = [v.removesuffix(".0") for v in values.astype(str)]
    elif pdt.is_bool_dtype(s):
        txt = s.astype(object).map({True: "1", False: "0"}).to_numpy(dtype=object)
    else:
        txt = s.astype(object).to_numpy()
    return ["" if m else str(v) for v, m in zip(txt, missing, strict=True)]


def write_json(path: str | Path, obj) -> None:
    """Write strict JSON (see ``json_bytes``)."""
    write_bytes(Path(path), json_bytes(obj))


def json_bytes(obj) -> bytes:
    """Strict JSON bytes as files hold them: ``json_text`` with a 2-space indent and a final newline."""
    return (json_text(obj, indent=2) + "\n").encode("utf-8")


def json_text(obj, indent: int | None = None) -> str:
    """Strict JSON text: sorted keys, numpy values allowed, NaN and ±inf as ``null`` (one line by default)."""
    return json.dumps(jsonable(obj), sort_keys=True, indent=indent, ensure_ascii=False, allow_nan=False,
                      default=_json_default)


def jsonable(obj):
    """A copy of nested dicts/lists/tuples with non-finite floats replaced by None (strict JSON has no NaN)."""
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, float | np.floating) and not np.isfinite(obj):
        return None
    return obj


def read_json(path: str | Path):
    """Read a JSON file written by `write_json` (or any UTF-8 JSON)."""
    path = Path(path)
    try:
        return json.loads(path.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path.name}: not valid UTF-8 JSON ({e})") from e


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def write_bytes(path: str | Path, data: bytes) -> None:
    """The one atomic writer: through a temporary file beside the target, removed if anything fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
