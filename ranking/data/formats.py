"""Writing the lab's files: CSV in one format, strict JSON, and one atomic writer.

Where it sits: beside ``ranking.data.io`` (which reads and validates). Everything the lab writes —
tables, generated worlds, saved runs, the app's downloads — goes through here, so the CLI and the
app produce the same bytes. CSV: UTF-8, LF, no index, UTC timestamps with ``Z``, the shortest text
that reads back to the same float. JSON: sorted keys, numpy values allowed, NaN/±inf as ``null``.
A file appears complete or not at all: writes go to a temporary file that is removed on failure.

**CSV injection.** A text cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
run as a formula by spreadsheets (``=HYPERLINK(…)``, ``=cmd|' /C calc'!A0``), and uploaded extra columns
or imported titles can hold anything. Every file made *for people* — the app's downloads (``csv_bytes``),
the CLI's ``label`` file and a run's ``rankings.csv`` (``write_csv``) — escapes such cells with a leading
single quote (OWASP's rule, ``escape_formula``); numbers, numeric columns and text that is a plain number
(``-2.5``) are left as they are. The lab's *data folders* (``write_tables``: generated worlds, MIND imports,
a saved run's copy of an upload) are written exactly: they are read back by ``ranking.data.io`` (and by
pandas), where an added quote would change the data (a title "-5 things…" would come back as
"'-5 things…", and a saved upload would no longer match the run trained on it). Open those with a
spreadsheet's import dialog, or export them through the lab.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api import types as pdt

from ranking.data import schema as S
from ranking.errors import DataError

TABLES = ("users", "content", "interactions")
DEFAULT_NAMES = {"users": "Users.csv", "content": "Content.csv", "interactions": "Interaction.csv"}
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
WRITE_CHUNK = 250_000  # rows formatted at a time by write_csv
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


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
        write_csv(out / DEFAULT_NAMES[key], frame, escape=False)  # data the lab reads back: exact (see the module)
    if truth is not None:
        # float32 signals in their shortest exact form: read back bit-identical
        write_csv(out / S.TRUTH_FILE, truth, escape=False)
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


def write_csv(path: str | Path, df: pd.DataFrame, *, escape: bool = True) -> None:
    """Write a frame as CSV in the lab's format (see ``csv_chunks``), chunk by chunk through the atomic writer."""
    write_chunks(Path(path), csv_chunks(df, escape=escape))


def csv_bytes(df: pd.DataFrame, *, escape: bool = True) -> bytes:
    """A frame as the lab's CSV bytes: the CLI writes these bytes and the app offers them as downloads."""
    return b"".join(csv_chunks(df, escape=escape))


def csv_chunks(df: pd.DataFrame, *, escape: bool = True) -> Iterator[bytes]:
    """The lab's CSV format (UTF-8, LF, no index, Z timestamps, shortest exact floats), ``WRITE_CHUNK`` rows
    at a time, so memory stays bounded for millions of rows (a MIND import). ``escape``: text cells that a
    spreadsheet would run as formulas get a leading quote (``escape_formula``; off only for data folders)."""
    names = [escape_formula(str(c)) for c in df.columns] if escape else list(df.columns)  # headers are cells too
    for start in range(0, max(len(df), 1), WRITE_CHUNK):
        part = df.iloc[start:start + WRITE_CHUNK]
        cells = {c: _format(part[c], escape) for c in df.columns}
        text = pd.DataFrame(cells, columns=df.columns)
        # Python's csv (3.11) quotes a field holding "\n" but not one holding a lone "\r", which readers (this
        # lab's included) take as a line end: a chunk with such a cell is written with every field quoted
        loose_cr = any("\r" in v for c in df.columns if not _never_text(df[c]) for v in cells[c])
        yield text.set_axis(names, axis=1).to_csv(
            index=False, header=start == 0, lineterminator="\n",
            quoting=csv.QUOTE_ALL if loose_cr else csv.QUOTE_MINIMAL).encode("utf-8")


def _never_text(s: pd.Series) -> bool:
    return pdt.is_numeric_dtype(s) or pdt.is_datetime64_any_dtype(s)


def escape_formula(text: str) -> str:
    """A text cell made inert for spreadsheets (OWASP, CSV injection): a cell beginning with ``=``, ``+``,
    ``-``, ``@``, tab or carriage return gets a leading single quote, unless it is a plain number (``-2.5``)."""
    if text.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def _format(s: pd.Series, escape: bool = False) -> list[str]:
    """One column as text: '' for missing, shortest exact floats, UTC timestamps with Z; with ``escape``, text
    cells that would run as formulas quoted (numbers, even in a text column, never are)."""
    missing = s.isna().to_numpy()
    if pdt.is_datetime64_any_dtype(s):
        utc = s.dt.tz_convert("UTC") if s.dt.tz is not None else s
        codes, uniq = pd.factorize(utc)  # strftime once per distinct time (NaT: code -1, masked below)
        txt = np.append(np.asarray(uniq.strftime(TIME_FORMAT), dtype=object), "")[codes]
    elif pdt.is_float_dtype(s):
        values = s.to_numpy(dtype=np.float32 if s.dtype == np.float32 else np.float64, na_value=np.nan)
        # numpy's str() is the shortest text that reads back to the same float32/float64
        txt = [v.removesuffix(".0") for v in values.astype(str)]
    elif pdt.is_bool_dtype(s):
        txt = s.astype(object).map({True: "1", False: "0"}).to_numpy(dtype=object)
    else:
        txt = s.astype(object).to_numpy()
        if escape:
            txt = [escape_formula(v) if isinstance(v, str) else v for v in txt]
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
    """Write bytes atomically (see ``write_chunks``)."""
    write_chunks(path, [data])


def write_chunks(path: str | Path, chunks: Iterable[bytes]) -> None:
    """The one atomic writer: through a temporary file beside the target, removed if anything fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
