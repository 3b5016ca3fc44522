"""The compound label: the notebook's numbers, options, grades, config validation."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest

from ranking.errors import ConfigError
from ranking.prep import labels as L


def _tiny() -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": [1, 1, 2, 2],
        "content_id": [10, 11, 10, 12],
        "click": [1, 1, 0, 1],
        "dwell_time": [12.4, 15.0, 0.0, 30.0],
        "share": [0, 1, 0, 0],
        "comment": [1, 0, 0, 2],
        "hide": [0, 0, 1, 0],
    })


def test_notebook_formula_by_hand():
    s = L.score(_tiny())
    expected = [1 + 0.5 * 1.24 + 1, 1 + 0.5 * 1.5 + 2, -1.0, 1 + 0.5 * 3.0 + 2]
    np.testing.assert_allclose(s, expected)
    assert L.label(s).tolist() == [1, 1, 0, 1]


def test_threshold_is_strict():
    cfg = L.LabelConfig(threshold=3.75)
    assert L.label(L.score(_tiny()), cfg).tolist() == [0, 0, 0, 1]


def test_comment_indicator_counts_once():
    cfg = L.LabelConfig(comment_mode="indicator")
    s = L.score(_tiny(), cfg)
    assert s[3] == pytest.approx(1 + 1.5 + 1)  # two comments count as one


def test_expected_dwell_modes():
    df = _tiny()
    mean = np.mean([12.4, 15.0, 0.0, 30.0])
    s = L.score(df, L.LabelConfig(w_click=0, w_share=0, w_comment=0, w_hide=0, w_dwell=1, expected_dwell="mean"))
    np.testing.assert_allclose(s, df["dwell_time"] / mean)
    median = np.median([12.4, 15.0, 0.0, 30.0])
    s = L.score(df, L.LabelConfig(w_click=0, w_share=0, w_comment=0, w_hide=0, w_dwell=1, expected_dwell="median"))
    np.testing.assert_allclose(s, df["dwell_time"] / median)


def test_per_topic_dwell_uses_topic_medians():
    df = _tiny()
    content = pd.DataFrame({"content_id": [10, 11, 12], "topic": ["a", "b", "a"]})
    cfg = L.LabelConfig(w_click=0, w_share=0, w_comment=0, w_hide=0, w_dwell=1, expected_dwell="per_topic")
    out = L.labelled(df, content, cfg)
    # topic a: dwell 12.4, 0.0, 30.0 → median 12.4; topic b: 15.0
    np.testing.assert_allclose(out["engagement_score"], [12.4 / 12.4, 1.0, 0.0, 30.0 / 12.4])


def test_grades_follow_the_paper_buckets():
    g = L.grade(np.array([-1.0, 0.99, 1.0, 1.5, 2.0, 2.5, 3.0, 3.01]))
    # bounds (1, 2, 3): a grade counts the bounds the score is strictly above
    assert g.tolist() == [0, 0, 0, 1, 1, 2, 2, 3]


@pytest.mark.parametrize("bad", [
    {"expected_dwell": 0}, {"expected_dwell": "weekly"}, {"comment_mode": "sum"},
    {"grade_bounds": (3.0, 1.0)}, {"w_click": float("nan")},
])
def test_bad_configs_raise(bad):
    with pytest.raises(ConfigError):
        L.LabelConfig(**bad)


def test_formula_shows_current_numbers():
    f = L.LabelConfig(w_share=3.5, threshold=1.25).formula()
    assert "3.5" in f
    assert "1.25" in f


def _seed_interactions_by_hand(seed_dir) -> list[dict[str, str]]:
    """Parse Interaction.csv with the csv module only: BOM + CR-only line endings."""
    text = (seed_dir / "Interaction.csv").read_bytes().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text.replace("\r\n", "\n").replace("\r", "\n"))))


def _by_hand(rows: list[dict[str, str]]) -> list[float]:
    return [float(r["click"]) + 0.5 * float(r["dwell_time"]) / 10 + 2 * float(r["share"])
            + float(r["comment"]) - float(r["hide"]) for r in rows]


def test_seed_labels_match_the_notebook(seed_dir):
    """On the seed-like tables: their first five rows are the notebook's documented example."""
    from ranking import data

    ds = data.load_dataset(seed_dir)
    out = L.labelled(ds.interactions, ds.content)
    assert out["engagement_score"].head(5).round(6).tolist() == [2.62, 3.75, 1.255, -1.0, 0.16]
    # independent recomputation from the raw text
    rows = _seed_interactions_by_hand(seed_dir)
    assert len(out) == len(rows) == 106
    by_hand = _by_hand(rows)
    np.testing.assert_allclose(out["engagement_score"], by_hand)
    assert out["label"].tolist() == [int(s > 2.0) for s in by_hand]
    assert 0 < out["label"].sum() < len(out)


def test_real_seed_labels_match_the_notebook(real_seed_dir):
    """The notebook's own numbers: 37 of the 106 seed interactions are positive."""
    from ranking import data

    ds = data.load_dataset(real_seed_dir)
    out = L.labelled(ds.interactions, ds.content)
    assert out["engagement_score"].head(5).round(6).tolist() == [2.62, 3.75, 1.255, -1.0, 0.16]
    assert int(out["label"].sum()) == 37
    assert len(out) == 106
    by_hand = _by_hand(_seed_interactions_by_hand(real_seed_dir))
    np.testing.assert_allclose(out["engagement_score"], by_hand)
    assert sum(s > 2.0 for s in by_hand) == 37
