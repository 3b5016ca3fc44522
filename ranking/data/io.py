"""Reading and writing the lab's table files: the only module of `ranking` that touches files.

A dataset is a folder (or a set of uploaded files) holding Users.csv, Content.csv and
Interaction.csv (names matched ignoring case; see `schema.FILE_NAMES`), optionally truth.csv
(user_id, content_id and the expected signals p_click, e_dwell, p_share, e_comment, p_hide) and
world.json (a generated world's spec). Content may carry a `title`; interactions may carry the
logging policy's `position` (1-based slot) and `propensity` (see data/README.md). Files may start with a
UTF-8 BOM and use CR, LF or CRLF line endings. Every cell is read as text, so "NA" stays North
America; `from_frames` then checks and types everything and collects *all* findings.

Uploads may instead hold a MIND pair, behaviors.tsv + news.tsv (names matched ignoring case): they
are imported by `ranking.data.mind.import_mind` (unknown news kept with topic "unknown"), the import
report's lines lead the dataset's warnings, and any other uploaded file is ignored with a warning.

Row numbers in messages are 1-based data rows: row 1 is the first line after the header
(blank lines count, so the number matches what an editor shows, minus one).

Errors (raise `DataError` listing every one):
  a table file missing, or two files matching one table; a file that is empty or has only a header;
  bytes that are not UTF-8 (byte offset and row given); rows with the wrong number of fields;
  a quoted value running over several lines (an open quote would swallow the rows after it);
  duplicate or missing required columns; no `topic_affinity_*` column; empty cells in required
  columns (all but `blocklist`); non-numeric numbers; ids that are not whole numbers; duplicate
  user or content ids; interactions naming unknown users or content (never dropped);
  timestamps that are not ISO 8601 (Z or offset) or dates; quality_score, affinities or truth
  probabilities outside [0, 1]; negative dwell_time, avg_session_length, e_dwell or e_comment;
  position not a whole number >= 1; propensity not in (0, 1]; click/share/hide not 0 or 1;
  comment not a whole number >= 0; region not in `schema.REGIONS`; region_restriction not ALL or
  a region; in truth.csv, unknown ids or repeated pairs; world.json that is not a JSON object, or
  one made by another generator version (regenerate the world).
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
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ranking.data import schema as S
from ranking.data.dataset import Dataset, DenseTruth, Truth, fingerprint_frames
from ranking.data.formats import DEFAULT_NAMES, TABLES, read_json
from ranking.data.truth import SignalTruth
from ranking.data.validate import Report, Table, check_tables, rows_text, truth_matrix
from ranking.data.world import GENERATOR_VERSION, truth_from_spec, version_message
from ranking.errors import DataError

_BOM = b"\xef\xbb\xbf"
MIND_FILES = ("behaviors.tsv", "news.tsv")
SOURCE_FILE = "source.json"


class _SpecTruth:
    """Truth computed on first use from a generated world's spec by `ranking.data.world.truth_from_spec`."""

    def __init__(self, compute, spec: dict, dataset: Dataset):
        self._compute, self._spec, self._dataset, self._truth = compute, spec, dataset, None

    @property
    def truth(self) -> Truth:
        if self._truth is None:
            truth = self._compute(self._spec, self._dataset)
            self._truth = truth if hasattr(truth, "rows") else DenseTruth(np.asarray(truth, np.float32))
        return self._truth

    def rows(self, user_pos: np.ndarray) -> np.ndarray:
        """float32 rows of the truth matrix for these user positions."""
        return self.truth.rows(user_pos)

    def __getattr__(self, name: str):
        """``signals``, ``gain`` … of the computed truth, when it has them."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.truth, name)


def load_dataset(path: str | Path, name: str | None = None) -> Dataset:
    """Load and validate the tables in a folder; the name defaults to the folder's name."""
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder (expected one holding {', '.join(DEFAULT_NAMES.values())})")
    wanted = {n for names in S.FILE_NAMES.values() for n in names} | {S.TRUTH_FILE, S.WORLD_FILE}
    paths = [p for p in sorted(folder.iterdir()) if p.name.lower() in wanted and p.is_file()]
    files = {p.name: p.read_bytes() for p in paths}
    dataset = _load_files(files, name or folder.resolve().name, report_unused=False)
    source = folder / SOURCE_FILE  # written by `import-mind`: which signals the log really records
    if source.is_file():
        recorded = read_json(source).get("recorded_signals")
        if isinstance(recorded, list) and recorded and set(recorded) <= set(S.OUTCOMES):
            dataset = replace(dataset, recorded=tuple(recorded))
    return dataset


def load_uploaded(files: Mapping[str, bytes], name: str = "upload") -> Dataset:
    """Load and validate uploaded files, keyed by their names (used only for matching, never as paths)."""
    mind = {n: [k for k in files if _base(k).lower() == n] for n in MIND_FILES}
    if any(mind.values()):
        return _load_mind(files, mind, name)
    return _load_files(files, name, report_unused=True)


def _load_mind(files: Mapping[str, bytes], mind: dict[str, list[str]], name: str) -> Dataset:
    """Import an uploaded MIND pair (unknown news kept); the report's lines become the first warnings."""
    from ranking.data.mind import import_mind

    problems = [f"a MIND upload needs {n} beside {' and '.join(o for o in MIND_FILES if o != n)} (letter case "
                "ignored)" for n, keys in mind.items() if not keys]
    problems += [f"files {', '.join(map(repr, keys))} all match {n}; keep only one"
                 for n, keys in mind.items() if len(keys) > 1]
    if problems:
        raise DataError(problems)
    (b,), (n,) = mind.values()
    users, content, inter, report = import_mind(files[b], files[n], unknown_news="keep",
                                                names=(_base(b), _base(n)))
    ignored = sorted(set(files) - {b, n})
    sources = {"users": f"users (from {_base(b)})", "content": f"content (from {_base(n)})",
               "interactions": f"interactions (from {_base(b)})"}
    ds = from_frames(users, content, inter, name=name, source_names=sources, recorded=(S.CLICK,))
    extra = [f"ignored uploaded file(s) {', '.join(map(repr, ignored))} beside the MIND pair"] if ignored else []
    return replace(ds, warnings=(*report.lines(), *extra, *ds.warnings))


def from_frames(
    users: pd.DataFrame,
    content: pd.DataFrame,
    interactions: pd.DataFrame,
    *,
    name: str = "dataset",
    truth: Truth | np.ndarray | pd.DataFrame | None = None,
    spec: dict | None = None,
    source_names: Mapping[str, str] | None = None,
    recorded: tuple[str, ...] | None = None,
) -> Dataset:
    """Validate and type three frames (text or typed); truth: a Truth, users × items array or long frame."""
    labels = {**DEFAULT_NAMES, **(source_names or {})}
    frames = dict(zip(TABLES, (users, content, interactions), strict=True))
    tables = {k: Table(labels[k], f) for k, f in frames.items()}
    dataset = _build(tables, Report(), name=name, truth=truth, spec=spec)
    return replace(dataset, recorded=tuple(recorded)) if recorded is not None else dataset


def _build(tables: dict[str, Table | None], rep: Report, *, name: str, truth=None, spec=None) -> Dataset:
    users, content, inter, affinity = check_tables(tables, rep)
    if isinstance(truth, pd.DataFrame):
        truth = Table(S.TRUTH_FILE, truth)
    if isinstance(truth, Table):
        both = users is not None and content is not None
        matrices = truth_matrix(truth, users, content, rep) if both else None
        truth = SignalTruth(matrices) if matrices is not None else None
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
    version = spec.get("generator_version", GENERATOR_VERSION)
    if version != GENERATOR_VERSION:
        rep.add(f"{_base(key)}: {version_message(version, spec)}")
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
