"""What one request may ask of a shared machine: world sizes, seeds, uploads and output places.

Every check here runs *before* any work, so a request that cannot finish is refused in a second
with a message naming the parameter, the allowed range and what to change, instead of failing
minutes later (or being killed for memory without a word).

Memory of `synth` (generate + write one world). Peak RSS is dominated by writing Interaction.csv:
`io.csv_bytes` turns every cell into a Python string before the CSV text exists, about 0.8 KB per
interaction; the truth table (users × items rows, written by default up to 2,000,000 rows) costs
about 0.3 KB per row; the latent users × publishers preferences ~7 bytes per pair. Measured with
``/usr/bin/time -v python -m ranking synth ...`` (peak RSS, numpy 2.4, pandas in the venv):

    command (all --seed 0)                                       peak RSS   formula before MARGIN
    --users 30    --items 10   --interactions 90                 0.157 GB   0.160 GB
    --users 1000  --items 300  --interactions 200,000 --no-truth 0.334 GB   0.327 GB
    --users 1000  --items 300  --interactions 1M --no-truth      1.017 GB   0.991 GB (3× the pairs)
    --users 20000 --items 500  --interactions 1M --no-truth      1.026 GB   1.013 GB (1/10 of the pairs)
    --users 100   --items 10   --interactions 1M --no-truth      1.014 GB   0.990 GB (1000× the pairs)
    --users 1000  --items 300  --interactions 3M --no-truth      2.642 GB   2.651 GB
    --users 2000  --items 1000 --interactions 20,000 (truth.csv) 0.800 GB   0.780 GB (2M truth rows)
    --users 100000 --items 100000 --interactions 20,000          2.723 GB   2.710 GB (3,333 publishers)

Generation itself, even the top-up draws of a world with far more interactions than user × item
pairs, peaks below the writing.

Time of generation (CPU of ``synth.generate``, measured 2026-12-08 on this 2-core machine). A world is
*saturated* when it asks for more than half of the (user, item) pairs its users may see, or its busiest
user would need more than 1,000 visits: it then logs repeated impressions, drawn in chunks of independent
visits until the log is full (``ranking.data.policy``), so its work grows with the interactions alone.
``--users 1000 --items 10 --interactions 400,000`` (40 impressions per pair, within the app's limits) takes
4 slate steps and 0.8 s (peak 0.22 GB); the earlier policy planned 20 visits per row round by round and
ran for 18+ minutes of a core (2.1 GB). ``--users 100 --items 5000 --interactions 400,000``: 0.5 s, was
46 s (a round per visit of its busiest user). The slowest world within the app's limits found since,
``--users 200 --items 5000 --interactions 400,000`` (no repeats), takes 10 s. A world whose visits cannot
fill its log within ``policy._MAX_VISITS_PER_ROW`` visits per row is refused with a ``ConfigError``; the
app also stops a generation after ``LAB_GEN_BUDGET_S`` (default 120 s).

``estimate_world_bytes`` = MARGIN × (BASE + PER_INTERACTION·interactions
+ PER_TRUTH_ROW·truth rows + PER_USER_PUBLISHER·users·publishers + PER_ROW·(users + items)).
The line is within 3 % of every measurement; MARGIN = 1.25 covers that spread, other library
versions and allocator slack, so a world estimated under the limit stays under it (it overstates
the need by about 25 %).

Seeds (tried with XGBoost 3.2, Keras 3.15, TensorFlow 2.21, numpy 2.4): XGBoost's random_state takes
up to 2**63 − 1 and more; ``keras.utils.set_random_seed`` (numpy's legacy seeding) refuses 2**32 ("Seed
must be between 0 and 2**32 - 1"), and the neural stage adds offsets up to +30 to the seed. ``MAX_SEED``
is 2**31 − 1: the int32 range every library accepts, with room for the offsets; a whole pipeline run
with it is part of ``tests/test_gbdt.py``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ranking.errors import ConfigError

MAX_SEED = 2**31 - 1
ENV_MEMORY = "LAB_MAX_MEMORY_GB"
UPLOAD_LIMIT_MB = 50  # per file; mirrors server.maxUploadSize in .streamlit/config.toml
TRUTH_ROWS_BY_DEFAULT = 2_000_000  # synth.write_world writes truth.csv by default up to this many rows
GB = 1e9
MB = 1e6

BASE = 160e6  # interpreter, numpy, pandas
PER_INTERACTION = 830.0
PER_TRUTH_ROW = 300.0
PER_USER_PUBLISHER = 7.0
PER_ROW = 1000.0  # per user and per item: latent arrays, frames and their CSV text
MARGIN = 1.25

CLI_NAMES = {"n_users": "--users", "n_items": "--items", "n_interactions": "--interactions", "seed": "--seed"}


def publishers(n_items: int) -> int:
    """The generator's default number of publishers (``WorldSpec.publishers``)."""
    return min(n_items, max(10, n_items // 30))


def estimate_world_bytes(n_users: int, n_items: int, n_interactions: int, *,
                         include_truth: bool | None = None) -> int:
    """Peak memory (bytes, with ``MARGIN``) of generating and writing a world of this size (see the module)."""
    return int(MARGIN * sum(_terms(n_users, n_items, n_interactions, include_truth).values()))


def _terms(n_users: int, n_items: int, n_interactions: int, include_truth: bool | None) -> dict[str, float]:
    pairs = n_users * n_items
    truth = pairs <= TRUTH_ROWS_BY_DEFAULT if include_truth is None else include_truth
    return {"base": BASE, "interactions": PER_INTERACTION * n_interactions,
            "truth": PER_TRUTH_ROW * pairs if truth else 0.0,
            "publishers": PER_USER_PUBLISHER * n_users * publishers(n_items),
            "rows": PER_ROW * (n_users + n_items)}


def memory_limit_bytes() -> int:
    """The memory one request may use: env ``LAB_MAX_MEMORY_GB``, else half of the machine's memory."""
    raw = os.environ.get(ENV_MEMORY, "").strip()
    if raw:
        try:
            gb = float(raw)
        except ValueError:
            gb = float("nan")
        if not gb > 0 or gb == float("inf"):
            raise ConfigError(f"{ENV_MEMORY} must be a number of GB above 0, such as 4 or 2.5; got {raw!r}")
        return int(gb * GB)
    return machine_memory_bytes() // 2


def machine_memory_bytes() -> int:
    """Physical memory (``os.sysconf``), or the container's cgroup limit when that is smaller; 8 GB if unknown."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        total = int(8 * GB)
    with contextlib.suppress(OSError, ValueError):
        cap = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if cap.isdigit() and 0 < int(cap) < total:
            total = int(cap)
    return total


def check_world_size(n_users: int, n_items: int, n_interactions: int, *, include_truth: bool | None = None,
                     limit: int | None = None, names: Mapping[str, str] | None = None) -> int:
    """Refuse a world that is empty or would not fit in memory; returns the estimate in bytes.

    ``names`` maps n_users / n_items / n_interactions to what the user typed (CLI flags by default).
    """
    names = {**CLI_NAMES, **(names or {})}
    for key, value in (("n_users", n_users), ("n_items", n_items), ("n_interactions", n_interactions)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{names[key]} must be a whole number ≥ 1, got {value!r}")
    limit = memory_limit_bytes() if limit is None else limit
    terms = _terms(n_users, n_items, n_interactions, include_truth)
    need = int(MARGIN * sum(terms.values()))
    if need <= limit:
        return need
    big = max(("interactions", "truth", "publishers", "rows"), key=terms.__getitem__)
    u, i, n = names["n_users"], names["n_items"], names["n_interactions"]
    if big == "interactions":
        what = f"{n} {n_interactions:,}"
        room = (limit / MARGIN - (sum(terms.values()) - terms["interactions"])) / PER_INTERACTION
        fix = f"use {n} {_round_down(room):,} or fewer" if room >= 1 else f"use fewer {u} and {i}"
    elif big == "truth":
        what = f"{u} {n_users:,} × {i} {n_items:,} with the truth table ({n_users * n_items:,} rows)"
        fix = "add --no-truth (the truth stays recomputable from world.json), or use fewer users or items"
    else:
        what = f"{u} {n_users:,} and {i} {n_items:,}"
        fix = f"use fewer {u} or {i}"
    raise ConfigError(f"{what} would need about {need / GB:.1f} GB of memory; the limit is {limit / GB:.1f} GB "
                      f"({_limit_source()}): {fix}, or raise {ENV_MEMORY} if this machine has the memory to spare")


def _limit_source() -> str:
    if os.environ.get(ENV_MEMORY, "").strip():
        return ENV_MEMORY
    return f"half of this machine's {machine_memory_bytes() / GB:.1f} GB; {ENV_MEMORY} sets it"


def _round_down(x: float) -> int:
    """x rounded down to two significant digits (11,984,131 → 11,000,000)."""
    if x < 100:
        return int(x)
    step = 10 ** (len(str(int(x))) - 2)
    return int(x) // step * step


def check_upload_size(name: str, n_bytes: int, limit_mb: float = UPLOAD_LIMIT_MB) -> None:
    """Refuse an uploaded file over the per-file limit, naming the file, its size and the limit."""
    if n_bytes > limit_mb * MB:
        raise ConfigError(f"{name} is {n_bytes / MB:,.1f} MB; the limit is {limit_mb:g} MB per uploaded file "
                          "(server.maxUploadSize in .streamlit/config.toml): upload a smaller sample, or run "
                          "`python -m ranking run --data FOLDER` on the full files")


def check_seed(value, where: str = "--seed") -> int:
    """A seed every library accepts: a whole number (not text, not a bool) from 0 to ``MAX_SEED``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise ConfigError(f"{where} must be a whole number from 0 to {MAX_SEED:,} (2**31 - 1), got {value!r}")
    return value


def check_output(path: str | Path, *, folder: bool, force: bool = False, option: str = "--out") -> Path:
    """Refuse an output place that cannot be written, before any work: the folder it goes in must exist and
    take a file (probed with a temporary file, removed at once); a folder output must not be an existing file,
    a file output not an existing folder (unless ``force``: a file, or an *empty* folder, in the way is
    replaced once the work is done, see ``clear_output``; a folder holding files never is)."""
    path = Path(path)
    parent = path.parent
    if path.is_dir() and not folder and not (force and not any(path.iterdir())):
        hint = "" if any(path.iterdir()) else ", or add --force to replace this empty folder"
        raise ConfigError(f"{option} {path}: is a folder; give a file name, such as {path / 'labelled.csv'}{hint}")
    if path.exists() and not path.is_dir() and folder and not force:
        raise ConfigError(f"{option} {path}: is an existing file, not a folder; choose another {option}, "
                          "or add --force to replace the file")
    if not parent.is_dir():
        what = "is not a folder" if parent.exists() else "does not exist"
        raise ConfigError(f"{option} {path}: the folder {parent} {what}; create it first or choose another {option}")
    _probe(path if folder and path.is_dir() else parent, path, option)
    return path


def clear_output(path: str | Path, *, folder: bool, force: bool) -> None:
    """With ``force``, remove what ``check_output`` let through: a file where a folder output goes, an empty
    folder where a file output goes. Call it after the work, just before writing."""
    path = Path(path)
    if force and folder and path.is_file():
        path.unlink()
    elif force and not folder and path.is_dir():
        path.rmdir()  # only ever empty here: check_output refuses a folder holding files


def _probe(where: Path, path: Path, option: str) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=".write-probe-", suffix=".tmp", dir=where)
    except OSError as e:
        raise ConfigError(f"{option} {path}: cannot write in {where} ({e.strerror or e}); "
                          f"choose a writable {option}") from None
    os.close(fd)
    os.unlink(tmp)
