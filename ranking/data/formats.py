"""Writing the lab's files: CSV in one format, strict JSON, and one atomic writer.

Where it sits: beside ``ranking.data.io`` (which reads and validates). Everything the lab writes —
tables, generated worlds, saved runs, the app's downloads — goes through here, so the CLI and the
app produce the same bytes. CSV: UTF-8, LF, no index, UTC timestamps with ``Z``, the shortest text
that reads back to the same float. JSON: sorted keys, numpy values allowed, NaN/±inf as ``null``.
A file appears complete or not at all: writes go to a temporary file that is removed on failure.
"""

from __future__ import annotations

import json
import os
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
        write_csv(out / S.TRUTH_FILE, truth)  # float32 signals in their shortest exact form: read back bit-identical
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
    """Write a frame as CSV in the lab's format (see ``csv_chunks``), chunk by chunk through the atomic writer."""
    write_chunks(Path(path), csv_chunks(df))


def csv_bytes(df: pd.DataFrame) -> bytes:
    """A frame as the lab's CSV bytes: the CLI writes these bytes and the app offers them as downloads."""
    return b"".join(csv_chunks(df))


def csv_chunks(df: pd.DataFrame) -> Iterator[bytes]:
    """The lab's CSV format (UTF-8, LF, no index, Z timestamps, shortest exact floats), ``WRITE_CHUNK`` rows
    at a time, so memory stays bounded for millions of rows (a MIND import)."""
    for start in range(0, max(len(df), 1), WRITE_CHUNK):
        part = df.iloc[start:start + WRITE_CHUNK]
        text = pd.DataFrame({c: _format(part[c]) for c in df.columns}, columns=df.columns)
        yield text.to_csv(index=False, header=start == 0, lineterminator="\n").encode("utf-8")


def _format(s: pd.Series) -> list[str]:
    """One column as text: '' for missing, shortest exact floats, UTC timestamps with Z."""
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
