"""Impression-aware splits (ranking.prep.impressions): a slate is never cut; references built with pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ranking import data
from ranking.config import LabelConfig, SplitConfig
from ranking.data import synth
from ranking.data.mind import import_mind
from ranking.errors import ConfigError, DataError
from ranking.prep.split import IS_TEST, prepare
from tests.test_mind import BEHAVIORS, NEWS
from tests.test_split import _dataset


@pytest.fixture(scope="module")
def world() -> data.Dataset:
    return synth.generate(synth.WorldSpec(n_users=120, n_items=60, n_interactions=2400, seed=5)).to_dataset()


def _visits(inter: pd.DataFrame) -> pd.Series:
    """Reference visit of each row: (user, event time − 5 s × (slot − 1)), as the world's policy logs slots."""
    start = pd.to_datetime(inter["event_timestamp"], utc=True) - pd.to_timedelta(5 * (inter["position"] - 1), "s")
    return inter["user_id"].astype(str) + "@" + start.astype(str)


def _split_slates(prep) -> int:
    inter = prep.interactions
    return int(inter.groupby(_visits(inter))[IS_TEST].nunique().gt(1).sum())


def test_row_split_cuts_slates_and_impression_split_never_does(world):
    row = prepare(world, LabelConfig(), SplitConfig(method="time"), seed=0)
    assert row.split_method == "time"
    assert _split_slates(row) > 0
    for method in ("auto", "impression", "users", "date"):
        prep = prepare(world, LabelConfig(), SplitConfig(method=method), seed=0)
        assert prep.split_method == ("impression" if method == "auto" else method)
        assert _split_slates(prep) == 0, method
        assert 0 < prep.interactions[IS_TEST].sum() < len(prep.interactions)


@pytest.mark.parametrize(("fraction", "min_history"), [(0.2, 3), (0.5, 12)])
def test_impression_split_matches_a_pandas_reference(world, fraction, min_history):
    prep = prepare(world, LabelConfig(), SplitConfig(method="impression", test_fraction=fraction,
                                                     min_history=min_history), seed=0)
    inter = world.interactions.copy()
    inter["visit"] = _visits(inter)
    inter["t"] = pd.to_datetime(inter["event_timestamp"], utc=True)
    expected = np.zeros(len(inter), bool)
    for _, rows in inter.groupby("user_id"):
        starts = rows.groupby("visit")["t"].min().sort_values(kind="stable")
        if len(rows) < min_history or len(starts) < 2:
            continue
        n_test = max(1, int(np.floor(len(starts) * fraction + 0.5)))
        held = set(starts.index[len(starts) - n_test:])
        expected[rows.index[rows["visit"].isin(held)]] = True
    np.testing.assert_array_equal(prep.interactions[IS_TEST].to_numpy(), expected)
    evaluated = inter.loc[expected, "user_id"].nunique()
    assert prep.n_eval_users == evaluated
    assert prep.n_train_only_users == inter["user_id"].nunique() - evaluated


def test_users_split_holds_out_whole_users(world):
    prep = prepare(world, LabelConfig(), SplitConfig(method="users", test_fraction=0.25), seed=3)
    inter = prep.interactions
    per_user = inter.groupby("user_id")[IS_TEST].agg(["min", "max"])
    assert (per_user["min"] == per_user["max"]).all()  # all or nothing per user
    n_users = inter["user_id"].nunique()
    assert int(per_user["max"].sum()) == round(n_users * 0.25)
    again = prepare(world, LabelConfig(), SplitConfig(method="users", test_fraction=0.25), seed=3)
    np.testing.assert_array_equal(again.interactions[IS_TEST].to_numpy(), inter[IS_TEST].to_numpy())


def test_date_split_holds_out_impressions_from_the_cut(world):
    cut = "2025-04-25T00:00:00Z"
    prep = prepare(world, LabelConfig(), SplitConfig(method="date", cut_date=cut), seed=0)
    inter = prep.interactions.copy()
    inter["t"] = pd.to_datetime(inter["event_timestamp"], utc=True)
    start = inter.groupby(_visits(inter))["t"].transform("min")
    np.testing.assert_array_equal(inter[IS_TEST].to_numpy(), (start >= pd.Timestamp(cut)).to_numpy())


def test_mind_impression_ids_split_whole_lines_and_history_always_trains():
    users, content, inter, _ = import_mind(BEHAVIORS, NEWS, unknown_news="keep", history=True)
    ds = data.from_frames(users, content, inter, name="mind")
    prep = prepare(ds, LabelConfig(w_dwell=0, w_share=0, w_comment=0, w_hide=0, threshold=0.5),
                   SplitConfig(method="impression", min_history=2), seed=0)
    rows = prep.interactions
    history = rows["impression_id"].isna() | (rows["impression_id"].astype(str) == "")
    assert not rows.loc[history, IS_TEST].any()
    # U7 (user 3) has lines 1 and 3: line 3 (the later) is held out whole; U3 and U10 have one line each
    held = rows[rows[IS_TEST]]
    assert set(held["impression_id"].astype(str)) == {"3"}
    assert len(held) == 3
    assert prep.split_note.startswith("impressions from the log's `impression_id` column")


def test_data_without_impressions_keeps_the_row_split_and_says_so():
    prep = prepare(_dataset(), LabelConfig(), SplitConfig(), seed=0)
    assert prep.split_method == "time"
    assert "no impressions" in prep.split_note
    with pytest.raises(DataError, match="needs impressions"):
        prepare(_dataset(), LabelConfig(), SplitConfig(method="impression"), seed=0)


def test_bad_cut_date_is_refused():
    with pytest.raises(ConfigError, match="cut_date"):
        SplitConfig(method="date", cut_date="next tuesday")
