"""Readable tables and display names: every expected string written out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ranking import names
from ranking.viz.tables import fmt, readable


@pytest.mark.parametrize(("value", "text"), [
    (None, "—"), (float("nan"), "—"), (np.float32("nan"), "—"), (0.656, "0.656"), (0.06361, "0.0636"),
    (12.345, "12.3"), (1234.5, "1,234"), (12345, "12,345"), (np.int64(7), "7"), (0.0, "0"), (True, "yes"),
    (0.00012345, "1.23e-04"), (-0.5, "-0.500"), ("x", "x"), (pd.NA, "—"),
])
def test_fmt_three_significant_digits(value, text):
    assert fmt(value) == text


def test_readable_renames_and_formats():
    frame = pd.DataFrame({"oracle_ndcg@10": [0.5556, np.nan], "s1_cf": [1.0, 2.5], "n_pairs": [1200, 3],
                          "wilcoxon_stat": [10.0, None]})
    out = readable(frame)
    assert list(out.columns) == ["Oracle NDCG@10", "Stage 1 collaborative-filtering score", "Pairs",
                                 "Wilcoxon statistic"]
    assert out.iloc[0].tolist() == ["0.556", "1.00", "1,200", "10.0"]
    assert out.iloc[1].tolist() == ["—", "2.50", "3", "—"]


def test_display_names():
    assert names.column_title("p_click") == "P(click)"
    assert names.column_title("affinity_sports") == "Stated affinity: sports"
    assert names.column_title("diversity@5") == "Topic diversity@5"
    assert names.column_title("stage2") == "Stage 2 · XGBoost"
    assert names.column_title("something_else") == "something_else"


def test_ranks_in_a_float_column_read_as_whole_numbers():
    import numpy as np
    import pandas as pd

    from ranking.viz.tables import readable

    shown = readable(pd.DataFrame({"stage3_rank": [9.0, np.nan, 13.0], "score": [9.0, 0.5, 13.0]}))
    assert shown.iloc[:, 0].tolist() == ["9", "—", "13"]
    assert shown.iloc[:, 1].tolist() == ["9.00", "0.500", "13.0"]  # other numbers keep 3 significant digits


def test_metric_and_delta_never_show_nan_or_a_signed_zero():
    from ranking.viz.tables import delta, metric

    assert metric(float("nan")) == "—"
    assert metric(None) == "—"
    assert metric(0.41234) == "0.412"
    assert delta(0.5, float("nan"), "stage 1") == {"delta": None}  # was "+nan vs stage 1", in green
    assert delta(float("nan"), 0.5, "stage 1") == {"delta": None}
    assert delta(0.5002, 0.5, "stage 2")["delta"] == "same as stage 2"  # was "+0.000 vs stage 2"
    assert delta(0.6, 0.5, "stage 1") == {"delta": "+0.100 vs stage 1", "delta_color": "normal"}
    assert delta(0.4, 0.5, "stage 1", lower_is_better=True)["delta_color"] == "inverse"
