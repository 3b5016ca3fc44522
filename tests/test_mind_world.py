"""A generated world written as MIND (ranking.data.mind_world), imported back: same impressions, same truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ranking import data
from ranking.cli import main
from ranking.config import LabelConfig, SplitConfig
from ranking.data import schema as S
from ranking.data.mind import CLICKS_ONLY
from ranking.evaluation.baselines import item_popularity, smoothed_ctr
from ranking.evaluation.impression import impression_report
from ranking.prep.impressions import IMPRESSION_KEY
from ranking.prep.split import IS_TEST, ITEM_POS, USER_POS, prepare
from tests.test_cli import SMALL_CONFIG, main_quiet

SPEC = {"n_users": 150, "n_items": 70, "n_interactions": 3000, "seed": 11}


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple:
    """(world folder, MIND folder, imported folder) of one world, through the CLI."""
    root = tmp_path_factory.mktemp("mindworld")
    size = ["--users", "150", "--items", "70", "--interactions", "3000", "--seed", "11"]
    assert main(["synth", "--out", str(root / "lab"), *size]) == 0
    assert main(["synth", "--format", "mind", "--out", str(root / "mind"), *size]) == 0
    assert main(["import-mind", "--behaviors", str(root / "mind" / "behaviors.tsv"),
                 "--news", str(root / "mind" / "news.tsv"), "--out", str(root / "imp")]) == 0
    return root / "lab", root / "mind", root / "imp"


def _world_ids(imported: data.Dataset) -> tuple[pd.Series, pd.Series]:
    """Imported user_id / content_id → the world's, read from the MIND ids (U0042 → 42, N0101 → 101)."""
    users = imported.users.set_index(S.USER_ID)["mind_user_id"].str.slice(1).astype(int)
    news = imported.content.set_index(S.CONTENT_ID)["mind_news_id"].str.slice(1).astype(int)
    return users, news


def test_mind_files_have_the_official_layout(folders):
    _, mind, _ = folders
    lines = (mind / "behaviors.tsv").read_text("utf-8").splitlines()
    fields = [line.split("\t") for line in lines]
    assert {len(f) for f in fields} == {5}
    assert [f[0] for f in fields] == [str(i) for i in range(1, len(lines) + 1)]
    assert all(pd.to_datetime(f[2], format="%m/%d/%Y %I:%M:%S %p") is not pd.NaT for f in fields)
    assert all(t[-2:] in ("-0", "-1") for f in fields for t in f[4].split(" "))
    news = [line.split("\t") for line in (mind / "news.tsv").read_text("utf-8").splitlines()]
    assert {len(f) for f in news} == {8}
    assert len(news) == SPEC["n_items"]


def test_round_trip_gives_the_worlds_impressions_clicks_users_and_items(folders):
    lab, _, imp = folders
    world, imported = data.load_dataset(lab), data.load_dataset(imp)
    users, news = _world_ids(imported)
    got = imported.interactions.assign(user_id=users.loc[imported.interactions[S.USER_ID]].to_numpy(),
                                       content_id=news.loc[imported.interactions[S.CONTENT_ID]].to_numpy())
    cols = [S.USER_ID, S.CONTENT_ID, S.CLICK, S.POSITION]
    want = world.interactions[cols].astype("int64").reset_index(drop=True)
    assert got[cols].astype("int64").reset_index(drop=True).equals(want)  # same rows, same order
    # the world's visit start (event time − 5 s × (slot − 1)) is the impression's time
    start = world.interactions[S.EVENT_TS] - pd.to_timedelta(5 * (world.interactions[S.POSITION] - 1), "s")
    assert (got[S.EVENT_TS].to_numpy() == start.to_numpy()).all()
    visits = pd.MultiIndex.from_arrays([want[S.USER_ID], start]).nunique()
    assert got["impression_id"].nunique() == visits
    assert sorted(users) == sorted(world.interactions[S.USER_ID].unique())
    assert sorted(news) == sorted(world.content[S.CONTENT_ID])
    topics = world.content.set_index(S.CONTENT_ID)[S.TOPIC]
    assert (imported.content[S.TOPIC].to_numpy() == topics.loc[news.to_numpy()].to_numpy()).all()


def test_the_truth_comes_along(folders):
    lab, _, imp = folders
    world, imported = data.load_dataset(lab), data.load_dataset(imp)
    users, news = _world_ids(imported)
    u_pos = pd.Index(world.users[S.USER_ID]).get_indexer(users.to_numpy())
    i_pos = pd.Index(world.content[S.CONTENT_ID]).get_indexer(news.to_numpy())
    want = world.truth.rows(u_pos)[:, i_pos]
    assert np.array_equal(imported.truth.rows(np.arange(len(users))), want)


@pytest.mark.parametrize("method", ["impression", "users", "date"])
def test_split_holds_out_whole_impressions_and_the_same_ones(folders, method):
    lab, _, imp = folders
    world, imported = data.load_dataset(lab), data.load_dataset(imp)
    split = SplitConfig(method=method)
    a, b = (prepare(ds, LabelConfig(**CLICKS_ONLY), split, seed=0) for ds in (world, imported))
    for prep in (a, b):  # generated AND MIND-shaped: no held-out impression shares a slate with a training row
        inter = prep.interactions
        assert (inter.groupby(IMPRESSION_KEY)[IS_TEST].nunique() == 1).all()
        assert 0 < inter[IS_TEST].sum() < len(inter)
    # the same held-out rows and impression numbers (users draws among active users, in the same order on both)
    assert np.array_equal(a.interactions[IS_TEST].to_numpy(), b.interactions[IS_TEST].to_numpy())
    assert np.array_equal(a.interactions[IMPRESSION_KEY].to_numpy(), b.interactions[IMPRESSION_KEY].to_numpy())


def test_per_impression_metrics_equal_on_identical_inputs(folders):
    lab, _, imp = folders
    world, imported = data.load_dataset(lab), data.load_dataset(imp)
    users, _ = _world_ids(imported)
    a, b = (prepare(ds, LabelConfig(**CLICKS_ONLY), SplitConfig(), seed=0) for ds in (world, imported))
    # popularity is a share of *all* users, and users who saw no slate are not in MIND: the same counts
    assert np.allclose(item_popularity(a) * a.n_users, item_popularity(b) * b.n_users, rtol=0, atol=1e-9)
    assert np.array_equal(smoothed_ctr(a), smoothed_ctr(b))

    def scores(prep, to_world_user) -> dict[str, np.ndarray]:
        test = prep.test
        item = test[ITEM_POS].to_numpy()
        truth_user = to_world_user(test[USER_POS].to_numpy()) - 1  # the world's own truth, one score per pair
        p_click = world.truth.signals(truth_user)[S.P_CLICK][np.arange(len(test)), item]
        return {"popularity": item_popularity(prep)[item], "smoothed_ctr": smoothed_ctr(prep)[item],
                "truth": p_click}

    ra = impression_report(a, scores(a, lambda pos: world.users[S.USER_ID].to_numpy()[pos]), seed=0)
    rb = impression_report(b, scores(b, lambda pos: users.to_numpy()[pos]), seed=0)
    assert ra["lists"].keys() == rb["lists"].keys() == {"popularity", "smoothed_ctr", "truth", "random"}
    assert ra["n_impressions"] == rb["n_impressions"] > 0
    for name, values in ra["lists"].items():  # means and their user-bootstrap intervals
        assert values.keys() == rb["lists"][name].keys()
        for key, x in values.items():
            assert x == pytest.approx(rb["lists"][name][key], abs=1e-12), (name, key)


def test_run_on_the_import_reproduces_the_worlds_run_where_the_inputs_are_identical(folders, tmp_path):
    """`run` on the world (labels: clicks only) and on its MIND import: the same held-out impressions, and random
    order and both popularities score them identically; learned lists see other features (MIND's neutral ones)."""
    lab, _, imp = folders
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({**SMALL_CONFIG, "labels": CLICKS_ONLY}))
    docs = []
    for name, folder in (("a", lab), ("b", imp)):
        rc, _, err = main_quiet(["run", "--data", str(folder), "--out", str(tmp_path / name), "--config",
                                 str(config), "--quiet"])
        assert rc == 0, err
        docs.append(json.loads((tmp_path / name / "metrics.json").read_text())["impressions"])
    a, b = docs
    for key in ("split", "n_impressions", "n_scored", "n_no_click", "n_all_click", "n_users", "mean_candidates"):
        assert a[key] == b[key], key
    for name in ("random", "popularity", "smoothed_ctr"):
        assert a["lists"][name].keys() == b["lists"][name].keys()
        for key, x in a["lists"][name].items():
            assert x == pytest.approx(b["lists"][name][key], abs=1e-12), (name, key)
