"""Tables for people: display names for columns, three significant digits, thousands separators, "—" for gaps.

Where it sits: beside the charts; pages pass every frame they show through ``readable`` so a
projector audience never sees a code key (``oracle_ndcg@10``), ``None``/``NaN`` or 0.06361 next to 0.656.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import pandas as pd

from ranking import names

MISSING = "—"


def fmt(value: object, digits: int = 3) -> str:
    """One value for people: integers with thousands separators, other numbers to ``digits`` significant
    digits (never scientific below 1,000 unless tiny), "—" for None/NaN, text unchanged."""
    if value is None or value is pd.NA or value is pd.NaT:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Integral):
        return f"{int(value):,}"
    if isinstance(value, Real):
        v = float(value)
        if math.isnan(v):
            return MISSING
        if math.isinf(v):
            return "∞" if v > 0 else "−∞"
        if v == 0:
            return "0"
        if abs(v) >= 10 ** (digits - 1):
            return f"{v:,.0f}"
        if abs(v) < 1e-3:
            return f"{v:.{digits - 1}e}"
        decimals = digits - 1 - math.floor(math.log10(abs(v)))
        return f"{v:.{decimals}f}"
    return str(value)


def metric(value: float | None, digits: int = 3) -> str:
    """A headline metric for people: fixed ``digits`` decimals, "—" when it could not be measured."""
    if value is None or not math.isfinite(float(value)):
        return MISSING
    return f"{float(value):.{digits}f}"


def delta(new: float | None, old: float | None, against: str, lower_is_better: bool = False) -> dict[str, str | None]:
    """Keyword arguments for a metric's change (``st.metric(label, value, **delta(...))``): no change shown
    when either side is missing ("+nan" in green said nothing), "same as …" in grey when it rounds to 0."""
    if new is None or old is None or not (math.isfinite(float(new)) and math.isfinite(float(old))):
        return {"delta": None}
    change = float(new) - float(old)
    if abs(change) < 5e-4:
        return {"delta": f"same as {against}", "delta_color": "off", "delta_arrow": "off"}
    return {"delta": f"{change:+.3f} vs {against}", "delta_color": "inverse" if lower_is_better else "normal"}


def readable(frame: pd.DataFrame, digits: int = 3, index: bool = False) -> pd.DataFrame:
    """A copy with display-name columns and every value as text (see ``fmt``); ``index=True`` keeps the
    index as a first column (its name made readable too)."""
    out = frame.reset_index() if index else frame

    def cell(column: object, v: object) -> str:
        # ranks are whole numbers even in a float column (NaN where not listed): "9", not "9.00"
        if "rank" in str(column).lower() and isinstance(v, float) and v == v and v.is_integer():
            return fmt(int(v), digits)
        return fmt(v, digits)

    shown = pd.DataFrame({names.column_title(c): [cell(c, v) for v in out[c].tolist()] for c in out.columns},
                         index=range(len(out)))
    return shown
