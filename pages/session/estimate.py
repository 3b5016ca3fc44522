"""How long a training will take: the honest estimate shown beside its progress bar.

An estimate is only as good as what it is based on, so the text says which: the median of earlier
trainings of the same stages on the same data in this server (including the start-up training of
the sample world), else the share of the work already done, else "no estimate yet".
"""

from __future__ import annotations

import statistics
import threading

_HISTORY: dict[tuple[str, tuple[str, ...]], list[float]] = {}
_LOCK = threading.Lock()
KEEP = 9  # recent durations per kind; the machine's load changes, old runs say little


def record(data_key: str, stages: list[str], seconds: float) -> None:
    """Remember how long a finished training took."""
    with _LOCK:
        runs = _HISTORY.setdefault((data_key, tuple(stages)), [])
        runs.append(float(seconds))
        del runs[:-KEEP]


def typical(data_key: str, stages: list[str]) -> float | None:
    """Median duration of earlier trainings of these stages on this data, or None."""
    with _LOCK:
        runs = list(_HISTORY.get((data_key, tuple(stages)), ()))
    return statistics.median(runs) if runs else None


def describe(data_key: str, stages: list[str], elapsed: float, fraction: float) -> str:
    """"about 12 s left (earlier runs here took 20 s)" or a rougher, labelled guess."""
    usual = typical(data_key, stages)
    if usual is not None:
        left = usual - elapsed
        if left >= 1:
            return f"about {left:.0f} s left (earlier runs here: {usual:.0f} s)"
        return f"taking longer than earlier runs here ({usual:.0f} s): the machine is busy"
    if 0.15 <= fraction < 1 and elapsed >= 2:
        return f"roughly {elapsed * (1 - fraction) / fraction:.0f} s left (from the share done so far)"
    return "no estimate yet (the first training of its kind on this server)"
