"""The per-user train/held-out split (ranking.prep.split): expected rows worked out by hand or with pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ranking import data
from ranking.config import LabelConfig, SplitConfig
from ranking.data import synth
from ranking.prep.split import IS_TEST, prepare

USERS = pd.DataFrame({
    "user_id": ["1", "2", "3", "4", "5"], "device_type": ["mobile"] * 5, "region": ["NA", "EU", "AS", "NA", "EU"],
    "topic_affinity_politics": ["0.5"] * 5, "topic_affinity_tech": ["0.2"] * 5, "avg_session_length": ["5"] * 5,
    "blocklist": [""] * 5,
})
CONTENT = pd.DataFrame({
    "content_id": [str(c) for c in range(101, 113)], "publisher": ["P"] * 12,
    "topic": ["politics", "technology"] * 6, "quality_score": ["0.5"] * 12, "region_restriction": ["ALL"] * 12,
    "publish_timestamp": ["2025-04-01T00:00:00Z"] * 12,
})


def _ts(hour: int) -> str:
    return f"2025-04-02T{hour:02d}:00:00Z"


# (user, content, hour). User 1: 10 events (input order shuffled); user 2: 5; user 3: 2 (below min_history);
# user 4: 4 events at one and the same time (ties); user 5: none.
EVENTS = [
    (1, 105, 5), (1, 101, 1), (1, 110, 10), (1, 103, 3), (1, 108, 8), (1, 102, 2), (1, 109, 9), (1, 104, 4),
    (1, 107, 7), (1, 106, 6),
    (2, 111, 3), (2, 101, 9), (2, 102, 1), (2, 103, 5), (2, 104, 7),
    (3, 101, 1), (3, 102, 2),
    (4, 105, 12), (4, 103, 12), (4, 110, 12), (4, 101, 12),
]


def _dataset(events=EVENTS) -> data.Dataset:
    inter = pd.DataFrame({
        "user_id": [str(u) for u, _, _ in events], "content_id": [str(c) for _, c, _ in events],
        "click": ["1", "0"] * (len(events) // 2) + ["1"] * (len(events) % 2), "dwell_time": ["3"] * len(events),
        "share": ["0"] * len(events), "comment": ["0"] * len(events), "hide": ["0"] * len(events),
        "event_timestamp": [_ts(h) for _, _, h in events],
    })
    return data.from_frames(USERS, CONTENT, inter, name="split")


def _held_out(prep) -> set[tuple[int, int]]:
    test = prep.interactions[prep.interactions[IS_TEST]]
    return set(zip(test["user_id"].astype(int), test["content_id"].astype(int), strict=True))


def test_time_split_holds_out_each_users_latest_20_percent():
    prep = prepare(_dataset(), LabelConfig(), SplitConfig(method="time", test_fraction=0.2, min_history=3), seed=0)
    # by hand: user 1 has 10 events → 2 held out, the latest (10:00 item 110, 09:00 item 109);
    # user 2 has 5 → 1 held out, the latest (09:00 item 101); user 4 has 4 → round(0.8) = 1 held out
    assert {(u, c) for u, c in _held_out(prep) if u != 4} == {(1, 110), (1, 109), (2, 101)}
    assert sum(u == 4 for u, _ in _held_out(prep)) == 1
    assert len(prep.test) == 4
    assert len(prep.train) == len(EVENTS) - 4
    assert prep.interactions["content_id"].tolist() == [c for _, c, _ in EVENTS]  # input order kept


def test_a_larger_fraction_holds_out_more_of_the_latest():
    prep = prepare(_dataset(), LabelConfig(), SplitConfig(test_fraction=0.5), seed=0)
    held = _held_out(prep)
    assert {c for u, c in held if u == 1} == {106, 107, 108, 109, 110}  # the 5 latest of 10
    assert {c for u, c in held if u == 2} == {101, 104, 103}  # round(2.5) = 3 (half up): 09:00, 07:00, 05:00


def test_users_below_min_history_train_only_and_are_counted():
    prep = prepare(_dataset(), LabelConfig(), SplitConfig(min_history=3), seed=0)
    assert not any(u == 3 for u, _ in _held_out(prep))  # 2 events < 3: both train
    assert (prep.train["user_id"] == 3).sum() == 2
    assert (prep.n_eval_users, prep.n_train_only_users) == (3, 1)  # users 1, 2, 4 | user 3; user 5 has none
    stricter = prepare(_dataset(), LabelConfig(), SplitConfig(min_history=5), seed=0)
    assert {u for u, _ in _held_out(stricter)} == {1, 2}  # user 4 (4 events) now trains only
    assert (stricter.n_eval_users, stricter.n_train_only_users) == (2, 2)


def test_timestamp_ties_are_broken_deterministically():
    """User 4's four events share one time: the held-out one is the same whatever the input row order."""
    held = set()
    for seed in range(6):
        order = np.random.default_rng(seed).permutation(len(EVENTS))
        prep = prepare(_dataset([EVENTS[k] for k in order]), LabelConfig(), SplitConfig(), seed=0)
        held.add(frozenset(c for u, c in _held_out(prep) if u == 4))
    assert len(held) == 1
    # the documented order within a user: time, then content id, then row → the largest content id is "latest"
    assert held == {frozenset({110})}


@pytest.fixture(scope="module")
def world() -> data.Dataset:
    return synth.generate(synth.WorldSpec(n_users=120, n_items=50, n_interactions=1500, seed=5)).to_dataset()


def _by_hand_time_split(inter: pd.DataFrame, fraction: float, min_history: int) -> np.ndarray:
    """Reference: per user, sort by (time, content id, row); hold out the last max(1, round-half-up(n·f))."""
    df = inter[["user_id", "content_id", "event_timestamp"]].copy()
    df["row"] = np.arange(len(df))
    df = df.sort_values(["user_id", "event_timestamp", "content_id", "row"])
    is_test = np.zeros(len(inter), dtype=bool)
    for _, g in df.groupby("user_id"):
        n = len(g)
        if n < min_history:
            continue
        n_test = max(1, int(np.floor(n * fraction + 0.5)))
        is_test[g["row"].to_numpy()[n - n_test:]] = True
    return is_test


@pytest.mark.parametrize(("fraction", "min_history"), [(0.2, 3), (0.3, 5)])
def test_time_split_matches_a_pandas_reference(world, fraction, min_history):
    prep = prepare(world, LabelConfig(), SplitConfig(method="time", test_fraction=fraction, min_history=min_history),
                   seed=0)
    expected = _by_hand_time_split(world.interactions, fraction, min_history)
    np.testing.assert_array_equal(prep.interactions[IS_TEST].to_numpy(), expected)
    counts = world.interactions["user_id"].value_counts()
    assert prep.n_eval_users == int((counts >= min_history).sum())
    assert prep.n_train_only_users == int((counts < min_history).sum())
    # no held-out event of a user is earlier than any of that user's training events
    inter = prep.interactions
    last_train = inter[~inter[IS_TEST]].groupby("user_id")["event_timestamp"].max()
    first_test = inter[inter[IS_TEST]].groupby("user_id")["event_timestamp"].min()
    assert (first_test >= last_train.reindex(first_test.index)).all()


def test_random_split_is_seeded_deterministic_and_keeps_the_per_user_counts(world):
    cfg = SplitConfig(method="random")
    a = prepare(world, LabelConfig(), cfg, seed=1).interactions[IS_TEST].to_numpy()
    b = prepare(world, LabelConfig(), cfg, seed=1).interactions[IS_TEST].to_numpy()
    c = prepare(world, LabelConfig(), cfg, seed=2).interactions[IS_TEST].to_numpy()
    t = prepare(world, LabelConfig(), SplitConfig(method="time"), seed=1).interactions[IS_TEST].to_numpy()
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    assert (a != t).any()
    users = world.interactions["user_id"].to_numpy()
    for held in (a, c):  # the same number per user as the time split: only which rows differs
        assert (pd.Series(held).groupby(users).sum() == pd.Series(t).groupby(users).sum()).all()


@pytest.mark.parametrize("labels", [LabelConfig(w_click=3.0, threshold=2.0),
                                    LabelConfig(w_share=0.0, w_hide=-5.0, expected_dwell="per_topic")])
def test_relabel_equals_preparing_again_with_the_new_label(world, labels):
    """A weight or threshold move relabels the prepared data instead of splitting it again: the result must
    be exactly what a fresh prepare with the new label gives (every column, every array)."""
    from dataclasses import fields

    from ranking.prep.split import relabel

    split = SplitConfig(method="random")
    before = prepare(world, LabelConfig(), split, seed=3)
    moved, fresh = relabel(before, labels), prepare(world, labels, split, seed=3)
    pd.testing.assert_frame_equal(moved.interactions, fresh.interactions)
    assert (moved.interactions["label"] != before.interactions["label"]).any()  # the label did change
    for f in fields(fresh):
        if f.name in ("interactions", "dataset"):
            continue
        a, b = getattr(moved, f.name), getattr(fresh, f.name)
        if hasattr(a, "toarray"):
            a, b = a.toarray(), b.toarray()
        np.testing.assert_array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object), err_msg=f.name)
    assert relabel(fresh, labels) is fresh  # the same label: nothing to do
    assert before.interactions["label"].equals(prepare(world, LabelConfig(), split, seed=3).interactions["label"])
